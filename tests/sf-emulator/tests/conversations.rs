//! The Connect REST API conversation upload over HTTP: multipart NDJSON upload, validation answers,
//! status progression, re-upload, authentication and recording.

mod common;

use common::*;
use serde_json::{Value, json};

const CONSUMER_KEY: &str = "3MVG9-emulator-consumer-key";
const USER: &str = "integration@acme.example";
const UPLOAD: &str = "/services/data/v62.0/connect/conversations/upload";
const BOUNDARY: &str = "----scv-test-boundary-7MA4YWxkTrZu0gW";
/// 2024-01-01T10:05:00Z: the end of the calls closed by `closed_call`.
const END_MS: i64 = START_MS + 300_000;

async fn start() -> Org {
    let org = Org::start().await;
    org.emu.set_connected_app_public_keys(vec![org.keys.public_pem.clone()]);
    org
}

async fn token(org: &Org) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": CONSUMER_KEY, "sub": USER, "aud": "https://login.salesforce.com",
        "iat": now, "exp": now + 180, "jti": uuid::Uuid::new_v4().to_string(),
    });
    let assertion = org.keys.sign(&claims).expect("sign");
    let response = org
        .http
        .post(org.emu.token_url())
        .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)])
        .send()
        .await
        .expect("token transport");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("token json");
    body["access_token"].as_str().expect("access_token").to_owned()
}

/// An inbound call created at START_MS and closed at END_MS; returns its 0LQ id.
async fn closed_call(org: &Org, key: &str) -> String {
    let id = org.create_call(key).await;
    let end = json!({"callCenterApiName": CC, "endTime": "2024-01-01T10:05:00.000Z"});
    let answer = org.send("PATCH", &format!("/telephony/v1/voiceCalls/{key}"), Some(end)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    id
}

/// A multipart part: Content-Disposition parameters and content.
struct Part {
    disposition: String,
    content: String,
}

/// A file part named after its conversation, as the official functions send it.
fn file(name: &str, content: String) -> Part {
    Part { disposition: format!("form-data; name=\"{name}\"; filename=\"transcripts.txt\""), content }
}

fn multipart(parts: &[Part]) -> Vec<u8> {
    let mut out = String::new();
    for part in parts {
        out.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: {}\r\nContent-Type: text/plain\r\n\r\n{}\r\n",
            part.disposition, part.content
        ));
    }
    out.push_str(&format!("--{BOUNDARY}--\r\n"));
    out.into_bytes()
}

fn conversation_line(id: &str) -> Value {
    json!({"type": "conversation", "payload": {"conversationId": id}})
}

fn entry(conversation: &str, id: &str, at: i64, text: &str, agent: bool, voice_call: &str) -> Value {
    let (subject, role) = if agent {
        (format!("{conversation}VIRTUAL_AGENT"), "AGENT")
    } else {
        (format!("{conversation}END_USER"), "END_USER")
    };
    json!({"type": "conversationEntry", "payload": {
        "conversationId": conversation, "id": id, "clientSentTimestamp": at, "clientDuration": 1,
        "messageText": text,
        "sender": {"appType": "TELEPHONY_INTEGRATION", "subject": subject, "role": role},
        "relatedRecords": [voice_call],
    }})
}

fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
}

/// A good two-utterance conversation for a call.
fn good(conversation: &str, voice_call: &str) -> String {
    ndjson(&[
        conversation_line(conversation),
        entry(conversation, "u1", START_MS + 1_000, "Hello, how can I help you?", true, voice_call),
        entry(conversation, "u2", START_MS + 4_000, "I want to return this merchandise.", false, voice_call),
    ])
}

async fn post(org: &Org, token: Option<&str>, content_type: &str, body: Vec<u8>) -> Answer {
    let mut request = org
        .http
        .post(format!("{}{UPLOAD}", org.emu.base_url()))
        .header("Content-Type", content_type)
        .header("Accept", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.expect("transport")).await
}

async fn upload(org: &Org, token: &str, parts: &[Part]) -> Answer {
    post(org, Some(token), &format!("multipart/form-data; boundary={BOUNDARY}"), multipart(parts)).await
}

async fn statuses(org: &Org, token: &str, query: &str) -> Answer {
    let request = org.http.get(format!("{}{UPLOAD}?{query}", org.emu.base_url())).bearer_auth(token);
    answer(request.send().await.expect("transport")).await
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("text");
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Answer { status, body, headers }
}

fn upload_ids(answer: &Answer) -> Vec<String> {
    answer.body["conversationBulkUploadsResults"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["uploadId"].as_str().expect("uploadId").to_owned())
        .collect()
}

#[tokio::test]
async fn a_multi_conversation_upload_stores_every_entry_and_answers_an_upload_id_per_conversation() {
    let org = start().await;
    let token = token(&org).await;
    let call_a = closed_call(&org, "contact-a").await;
    let call_b = closed_call(&org, "contact-b").await;
    let answer = upload(
        &org,
        &token,
        &[file("contact-a", good("contact-a", &call_a)), file("contact-b", good("contact-b", &call_b))],
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let results = answer.body["conversationBulkUploadsResults"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    for (result, conversation) in results.iter().zip(["contact-a", "contact-b"]) {
        assert_eq!(result["conversationIdentifier"], conversation);
        assert_eq!(result["status"], "SUCCESS");
        assert_eq!(result["errorDetail"], Value::Null);
        assert_eq!(result["uploadId"].as_str().expect("uploadId").len(), 36, "{result}");
    }
    let ids = upload_ids(&answer);
    assert_ne!(ids[0], ids[1]);

    // The stored conversation: entries in payload order, fields as sent, linked to the upload.
    let stored = org.emu.conversation("contact-a").expect("conversation a");
    assert_eq!(stored.voice_call_id, call_a);
    assert_eq!(stored.upload_ids, vec![ids[0].clone()]);
    let entries: Vec<_> = stored.entries.iter().map(|e| (e.id.as_str(), e.client_sent_timestamp)).collect();
    assert_eq!(entries, vec![("u1", START_MS + 1_000), ("u2", START_MS + 4_000)]);
    let first = &stored.entries[0];
    assert_eq!(first.message_text, "Hello, how can I help you?");
    assert_eq!(first.sender.app_type, "TELEPHONY_INTEGRATION");
    assert_eq!(first.sender.subject, "contact-aVIRTUAL_AGENT");
    assert_eq!(first.sender.role, "AGENT");
    assert_eq!(first.related_records, vec![call_a.clone()]);
    assert_eq!(first.upload_id, ids[0]);
    assert_eq!(org.emu.conversation("contact-b").expect("b").entries.len(), 2);

    // The recorded request: parts with their names, file names and parsed lines; no token.
    let recorded = org.emu.requests_to("POST", UPLOAD);
    assert_eq!(recorded.len(), 1);
    let parts = recorded[0].body["parts"].as_array().expect("recorded parts");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1]["name"], "contact-b");
    assert_eq!(parts[1]["filename"], "transcripts.txt");
    assert_eq!(parts[1]["contentType"], "text/plain");
    assert_eq!(parts[1]["lines"][0], conversation_line("contact-b"));
    assert_eq!(parts[1]["lines"][2]["payload"]["id"], "u2");
    assert_eq!(parts[1]["lines"].as_array().map(Vec::len), Some(3));
    let everything = serde_json::to_string(&org.emu.requests()).expect("json") + &org.emu.state_json().to_string();
    assert!(!everything.contains(&token), "the access token must never be recorded");

    // The inspection view lists the uploads.
    let state = org.emu.state_json();
    assert_eq!(state["conversationUploads"].as_array().map(Vec::len), Some(2));
    assert_eq!(state["conversationUploads"][0]["entryIds"], json!(["u1", "u2"]));
    assert_eq!(state["conversations"]["contact-b"]["entries"][1]["messageText"], "I want to return this merchandise.");
    // Over HTTP too.
    let over_http: Value = org
        .http
        .get(format!("{}/__emulator/state", org.emu.base_url()))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    assert_eq!(over_http["conversationUploads"][1]["conversationId"], "contact-b");
}

#[tokio::test]
async fn utf8_text_is_kept_intact() {
    let org = start().await;
    let token = token(&org).await;
    let call = closed_call(&org, "contact-u").await;
    let text = "Merci Zoë, ça coûte 12 € (£10)";
    let content = ndjson(&[conversation_line("contact-u"), entry("contact-u", "1", START_MS, text, false, &call)]);
    let answer = upload(&org, &token, &[file("contact-u", content)]).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(org.emu.conversation("contact-u").expect("stored").entries[0].message_text, text);
}

/// Asserts a 400 whose single error names every given text, and that nothing was stored.
fn assert_rejected(org: &Org, answer: &Answer, texts: &[&str]) {
    assert_eq!(answer.status, 400, "{}", answer.body);
    let errors = answer.body.as_array().expect("error array");
    assert_eq!(errors.len(), 1, "{}", answer.body);
    assert_eq!(errors[0]["errorCode"], "INVALID_API_INPUT", "{}", answer.body);
    let message = errors[0]["message"].as_str().unwrap_or_default();
    for text in texts {
        assert!(message.contains(text), "message {message:?} should contain {text:?}");
    }
    assert!(org.emu.conversation_uploads().is_empty(), "nothing is stored on a 400");
}

#[tokio::test]
async fn every_validation_failure_answers_400_naming_the_part_the_line_and_the_field() {
    let org = start().await;
    let token = token(&org).await;
    let call = closed_call(&org, "c1").await;
    let other_call = closed_call(&org, "c2").await;
    let good_entry = |id: &str| entry("c1", id, START_MS + 1_000, "hi", true, &call);
    let with = |id: &str, change: &dyn Fn(&mut Value)| {
        let mut e = good_entry(id);
        change(&mut e["payload"]);
        e
    };
    let cases: Vec<(&str, Vec<Part>, Vec<&str>)> = vec![
        (
            "not JSON",
            vec![file("c1", format!("{}\n{{not json", conversation_line("c1")))],
            vec!["part 1 'c1' (file 'transcripts.txt')", "line 2 is not valid JSON"],
        ),
        (
            "first line is an entry",
            vec![file("c1", ndjson(&[good_entry("1"), conversation_line("c1")]))],
            vec!["line 1: the first object must be the conversation", "found type 'conversationEntry'"],
        ),
        (
            "second conversation line",
            vec![file("c1", ndjson(&[conversation_line("c1"), good_entry("1"), conversation_line("c1")]))],
            vec!["line 3: expected a conversationEntry", "found type 'conversation'"],
        ),
        (
            "entry references another conversation",
            vec![file("c1", ndjson(&[conversation_line("c1"), entry("c2", "1", START_MS, "x", true, &other_call)]))],
            vec!["line 2: field 'payload.conversationId'", "'c2' does not reference the part's conversation 'c1'"],
        ),
        (
            "missing appType",
            vec![file(
                "c1",
                ndjson(&[
                    conversation_line("c1"),
                    good_entry("1"),
                    with("2", &|p| {
                        p["sender"].as_object_mut().map(|s| s.remove("appType"));
                    }),
                ]),
            )],
            vec!["line 3: field 'payload.sender.appType' is required"],
        ),
        (
            "missing subject",
            vec![file("c1", ndjson(&[conversation_line("c1"), with("1", &|p| p["sender"]["subject"] = json!(""))]))],
            vec!["line 2: field 'payload.sender.subject' is required"],
        ),
        (
            "unknown role",
            vec![file(
                "c1",
                ndjson(&[conversation_line("c1"), with("1", &|p| p["sender"]["role"] = json!("CUSTOMER"))]),
            )],
            vec!["line 2: field 'payload.sender.role'", "'CUSTOMER' is not one of SYSTEM, AGENT"],
        ),
        (
            "timestamp before the call",
            vec![file(
                "c1",
                ndjson(&[conversation_line("c1"), with("1", &|p| p["clientSentTimestamp"] = json!(START_MS - 1))]),
            )],
            vec!["line 2: field 'payload.clientSentTimestamp'", "is before the start", call.as_str()],
        ),
        (
            "timestamp after the call",
            vec![file(
                "c1",
                ndjson(&[conversation_line("c1"), with("1", &|p| p["clientSentTimestamp"] = json!(END_MS + 1))]),
            )],
            vec!["line 2: field 'payload.clientSentTimestamp'", "is after the end"],
        ),
        (
            "timestamp as text",
            vec![file(
                "c1",
                ndjson(&[conversation_line("c1"), with("1", &|p| p["clientSentTimestamp"] = json!("10:00"))]),
            )],
            vec!["field 'payload.clientSentTimestamp' must be a number"],
        ),
        (
            "unknown related record",
            vec![file(
                "c1",
                ndjson(&[conversation_line("c1"), with("1", &|p| p["relatedRecords"] = json!(["0LQEM00000ZZZZZ"]))]),
            )],
            vec!["line 2: field 'payload.relatedRecords[0]'", "'0LQEM00000ZZZZZ' is not the id of an existing record"],
        ),
        (
            "no related records",
            vec![file("c1", ndjson(&[conversation_line("c1"), with("1", &|p| p["relatedRecords"] = json!([]))]))],
            vec!["field 'payload.relatedRecords' must list at least one record id"],
        ),
        (
            "repeated entry id",
            vec![file("c1", ndjson(&[conversation_line("c1"), good_entry("1"), good_entry("1")]))],
            vec!["line 3: field 'payload.id'", "'1' is repeated"],
        ),
        (
            "missing messageText",
            vec![file(
                "c1",
                ndjson(&[
                    conversation_line("c1"),
                    with("1", &|p| {
                        p.as_object_mut().map(|o| o.remove("messageText"));
                    }),
                ]),
            )],
            vec!["line 2: field 'payload.messageText' is required"],
        ),
        ("no entries", vec![file("c1", ndjson(&[conversation_line("c1")]))], vec!["no conversationEntry line"]),
        ("empty file", vec![file("c1", String::new())], vec!["the file is empty"]),
        (
            "part not named after its conversation",
            vec![file("other", ndjson(&[conversation_line("c1"), good_entry("1")]))],
            vec!["part 1 'other'", "must be the conversationId of its conversation line ('c1')"],
        ),
        (
            "unknown conversation",
            vec![file("ghost", ndjson(&[conversation_line("ghost"), entry("ghost", "1", START_MS, "x", true, &call)]))],
            vec!["line 1: field 'payload.conversationId'", "no conversation exists"],
        ),
        (
            "no filename",
            vec![Part {
                disposition: "form-data; name=\"c1\"".into(),
                content: ndjson(&[conversation_line("c1"), good_entry("1")]),
            }],
            vec!["part 1 'c1'", "has no filename"],
        ),
        (
            "the same conversation twice",
            vec![
                file("c1", ndjson(&[conversation_line("c1"), good_entry("1")])),
                file("c1", ndjson(&[conversation_line("c1"), good_entry("2")])),
            ],
            vec!["part 2 'c1'", "already uploaded by part 1"],
        ),
        (
            "outside the conversation line's own window",
            vec![file(
                "c1",
                ndjson(&[
                    json!({"type": "conversation", "payload": {"conversationId": "c1", "startTimestamp": START_MS + 2_000}}),
                    good_entry("1"),
                ]),
            )],
            vec!["line 2: field 'payload.clientSentTimestamp'", "before the conversation's startTimestamp"],
        ),
    ];
    for (name, parts, texts) in cases {
        let answer = upload(&org, &token, &parts).await;
        assert_eq!(answer.status, 400, "{name}: {}", answer.body);
        assert_rejected(&org, &answer, &texts);
    }

    // One error per failing part; good parts are not stored either.
    let good_c2 = good("c2", &other_call);
    let answer = upload(
        &org,
        &token,
        &[
            file("c1", ndjson(&[conversation_line("c1"), with("1", &|p| p["clientDuration"] = json!(-5))])),
            file("c2", good_c2),
        ],
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body.as_array().map(Vec::len), Some(1), "{}", answer.body);
    assert!(answer.body[0]["message"].as_str().unwrap_or_default().contains("payload.clientDuration"));
    assert!(org.emu.conversation("c2").is_none(), "all or nothing");
    let answer = upload(&org, &token, &[file("c1", "x".into()), file("c2", "{}".into())]).await;
    let messages: Vec<&str> =
        answer.body.as_array().expect("errors").iter().filter_map(|e| e["message"].as_str()).collect();
    assert_eq!(messages.len(), 2, "{}", answer.body);
    assert!(messages[0].starts_with("part 1 'c1'") && messages[1].starts_with("part 2 'c2'"), "{messages:?}");
}

#[tokio::test]
async fn malformed_or_non_multipart_bodies_are_refused() {
    let org = start().await;
    let token = token(&org).await;
    let answer = post(&org, Some(&token), "application/json", b"{}".to_vec()).await;
    assert_error(&answer, 415, "UNSUPPORTED_MEDIA_TYPE", "multipart/form-data");
    let answer = post(&org, Some(&token), "multipart/form-data", multipart(&[])).await;
    assert_error(&answer, 400, "INVALID_API_INPUT", "no boundary parameter");
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let unterminated =
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"c\"; filename=\"t.txt\"\r\n\r\n{{}}");
    let answer = post(&org, Some(&token), &ct, unterminated.into_bytes()).await;
    assert_error(&answer, 400, "INVALID_API_INPUT", "Malformed multipart/form-data body: part 1 is not terminated");
    let answer = post(&org, Some(&token), &ct, format!("--{BOUNDARY}--\r\n").into_bytes()).await;
    assert_error(&answer, 400, "INVALID_API_INPUT", "the body has no part");
    let answer = post(&org, Some(&token), &ct, b"plain text".to_vec()).await;
    assert_error(&answer, 400, "INVALID_API_INPUT", "does not contain the boundary delimiter");
    let answer =
        org.http.delete(format!("{}{UPLOAD}", org.emu.base_url())).bearer_auth(&token).send().await.expect("transport");
    assert_eq!(answer.status().as_u16(), 405);
    assert_eq!(answer.headers().get("allow").and_then(|v| v.to_str().ok()), Some("GET, POST"));
}

#[tokio::test]
async fn statuses_move_from_pending_to_success_on_the_second_read() {
    let org = start().await;
    let token = token(&org).await;
    let a = closed_call(&org, "contact-a").await;
    let b = closed_call(&org, "contact-b").await;
    let answer =
        upload(&org, &token, &[file("contact-a", good("contact-a", &a)), file("contact-b", good("contact-b", &b))])
            .await;
    let ids = upload_ids(&answer);
    // As the official functions ask: uploadIds, comma encoded.
    let query = format!("uploadIds={}%2C{}", ids[0], ids[1]);
    let first = statuses(&org, &token, &query).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let list = first.body["conversationBulkUploadStatuses"].as_array().expect("statuses");
    assert_eq!(list.len(), 2);
    for (status, (id, conversation)) in list.iter().zip(ids.iter().zip(["contact-a", "contact-b"])) {
        assert_eq!(status["uploadId"], id.as_str());
        assert_eq!(status["conversationId"], conversation);
        assert_eq!(status["status"], "PENDING");
        assert_eq!(status["successEntryCount"], 0);
        assert_eq!(status["failedEntryCount"], 0);
        assert_eq!(status["failedEntryIds"], json!([]));
        assert!(status["lastUpdatedTimestamp"].as_i64().is_some_and(|t| t > 1_700_000_000_000), "{status}");
    }
    let second = statuses(&org, &token, &query).await;
    for status in second.body["conversationBulkUploadStatuses"].as_array().expect("statuses") {
        assert_eq!(status["status"], "SUCCESS", "{status}");
        assert_eq!(status["successEntryCount"], 2);
        assert_eq!(status["failedEntryCount"], 0);
        assert_eq!(status["errorDetail"], Value::Null);
    }
    // Reads are counted per upload: a first read of only one of them is still PENDING for an unread one.
    let c = closed_call(&org, "contact-c").await;
    let third_id = upload_ids(&upload(&org, &token, &[file("contact-c", good("contact-c", &c))]).await).remove(0);
    let mixed = statuses(&org, &token, &format!("uploadId={},{third_id}", ids[0])).await;
    assert_eq!(mixed.body["conversationBulkUploadStatuses"][0]["status"], "SUCCESS");
    assert_eq!(mixed.body["conversationBulkUploadStatuses"][1]["status"], "PENDING");
    assert_eq!(org.emu.conversation_uploads()[0].status_reads, 3);
    let repeated = statuses(&org, &token, &format!("uploadIds={},{}", ids[1], ids[1])).await;
    assert_eq!(repeated.body["conversationBulkUploadStatuses"].as_array().map(Vec::len), Some(1));
    assert_eq!(org.emu.conversation_uploads()[1].status_reads, 3);

    // Bad status requests.
    assert_error(
        &statuses(&org, &token, "uploadIds=").await,
        400,
        "INVALID_API_INPUT",
        "uploadIds parameter is required",
    );
    assert_error(&statuses(&org, &token, "").await, 400, "INVALID_API_INPUT", "uploadIds parameter is required");
    let many = (0..101).map(|i| format!("id{i}")).collect::<Vec<_>>().join(",");
    assert_error(&statuses(&org, &token, &format!("uploadIds={many}")).await, 400, "INVALID_API_INPUT", "at most 100");
    assert_error(
        &statuses(&org, &token, &format!("uploadIds={},nope", ids[0])).await,
        404,
        "NOT_FOUND",
        "Unknown upload id(s): nope",
    );
}

#[tokio::test]
async fn an_upload_to_a_conversation_still_open_fails_with_per_entry_counts() {
    let org = start().await;
    let token = token(&org).await;
    let open = org.create_call("open-call").await;
    let answer = upload(&org, &token, &[file("open-call", good("open-call", &open))]).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let id = upload_ids(&answer).remove(0);
    let query = format!("uploadIds={id}");
    assert_eq!(statuses(&org, &token, &query).await.body["conversationBulkUploadStatuses"][0]["status"], "PENDING");
    let done = statuses(&org, &token, &query).await;
    let status = &done.body["conversationBulkUploadStatuses"][0];
    assert_eq!(status["status"], "FAILED");
    assert_eq!(status["errorDetail"], "Failed to process any conversation entries.");
    assert_eq!(status["failedEntryCount"], 2);
    assert_eq!(status["failedEntryIds"], json!(["u1", "u2"]));
    assert_eq!(status["successEntryCount"], 0);
    assert!(org.emu.conversation("open-call").expect("conversation").entries.is_empty());
    let upload = &org.emu.conversation_uploads()[0];
    assert!(upload.failure_reasons[0].contains("still open"), "{:?}", upload.failure_reasons);
}

#[tokio::test]
async fn a_reupload_gets_a_new_upload_id_and_never_stores_an_entry_twice() {
    let org = start().await;
    let token = token(&org).await;
    let call = closed_call(&org, "contact-r").await;
    let first = upload_ids(&upload(&org, &token, &[file("contact-r", good("contact-r", &call))]).await).remove(0);
    // The same transcript again, plus one new utterance and one changed one.
    let again = ndjson(&[
        conversation_line("contact-r"),
        entry("contact-r", "u1", START_MS + 1_000, "Hello, how can I help you?", true, &call),
        entry("contact-r", "u2", START_MS + 4_000, "Something else entirely", false, &call),
        entry("contact-r", "u3", START_MS + 9_000, "Thanks, bye", false, &call),
    ]);
    let answer = upload(&org, &token, &[file("contact-r", again)]).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let second = upload_ids(&answer).remove(0);
    assert_ne!(first, second);

    let stored = org.emu.conversation("contact-r").expect("conversation");
    let ids: Vec<&str> = stored.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, vec!["u1", "u2", "u3"]);
    assert_eq!(stored.entries[1].message_text, "I want to return this merchandise.", "the stored entry is kept");
    assert_eq!(stored.entries[2].upload_id, second);
    assert_eq!(stored.upload_ids, vec![first.clone(), second.clone()]);
    let uploads = org.emu.conversation_uploads();
    assert!(!uploads[0].reupload && uploads[1].reupload);
    assert_eq!(uploads[1].deduplicated_entry_ids, vec!["u1".to_owned()]);

    let query = format!("uploadIds={second}");
    statuses(&org, &token, &query).await;
    let done = statuses(&org, &token, &query).await;
    let status = &done.body["conversationBulkUploadStatuses"][0];
    assert_eq!(status["status"], "SUCCESS");
    assert_eq!(status["successEntryCount"], 2, "u1 (already stored, same content) and u3");
    assert_eq!(status["failedEntryCount"], 1);
    assert_eq!(status["failedEntryIds"], json!(["u2"]));
    assert_eq!(status["errorDetail"], "Failed to process 1 of 3 conversation entries.");

    // An identical re-run is a full success and stores nothing new.
    let third = upload_ids(&upload(&org, &token, &[file("contact-r", good("contact-r", &call))]).await).remove(0);
    assert_eq!(org.emu.conversation("contact-r").expect("c").entries.len(), 3);
    let query = format!("uploadIds={third}");
    statuses(&org, &token, &query).await;
    let status = statuses(&org, &token, &query).await.body["conversationBulkUploadStatuses"][0].clone();
    assert_eq!((status["status"].clone(), status["successEntryCount"].clone()), (json!("SUCCESS"), json!(2)));
}

#[tokio::test]
async fn the_api_requires_the_rest_access_token() {
    let org = start().await;
    let call = closed_call(&org, "contact-a").await;
    let body = multipart(&[file("contact-a", good("contact-a", &call))]);
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let answer = post(&org, None, &ct, body.clone()).await;
    assert_error(&answer, 401, "INVALID_SESSION_ID", "Session expired or invalid");
    // A Telephony API JWT is not a REST session.
    let scrt = org.token();
    assert_eq!(post(&org, Some(&scrt), &ct, body.clone()).await.status, 401);
    let token = token(&org).await;
    org.emu.expire_access_tokens();
    assert_eq!(post(&org, Some(&token), &ct, body.clone()).await.status, 401);
    assert_eq!(statuses(&org, &token, "uploadIds=x").await.status, 401);
    assert!(org.emu.conversation_uploads().is_empty());
    let fresh = self::token(&org).await;
    assert_eq!(post(&org, Some(&fresh), &ct, body).await.status, 201);
}

#[tokio::test]
async fn an_injected_server_error_stores_nothing_and_the_retry_goes_through() {
    let org = start().await;
    let token = token(&org).await;
    let call = closed_call(&org, "contact-f").await;
    org.emu.inject(sf_emulator::Fault::status(503, 1).on("POST", "/connect/conversations/upload"));
    let parts = [file("contact-f", good("contact-f", &call))];
    let failed = upload(&org, &token, &parts).await;
    assert_error(&failed, 503, "SERVER_UNAVAILABLE", "injected");
    assert!(org.emu.conversation_uploads().is_empty());
    let retried = upload(&org, &token, &parts).await;
    assert_eq!(retried.status, 201, "{}", retried.body);
    assert_eq!(org.emu.conversation("contact-f").expect("stored").entries.len(), 2);
    let recorded = org.emu.requests_to("POST", UPLOAD);
    assert_eq!(recorded.iter().map(|r| (r.status, r.faulted)).collect::<Vec<_>>(), vec![(503, true), (201, false)]);
}

#[tokio::test]
async fn stored_entries_are_read_back_through_the_entries_resource() {
    let org = start().await;
    let token = token(&org).await;
    let call = closed_call(&org, "contact-e").await;
    let content = ndjson(&[
        conversation_line("contact-e"),
        entry("contact-e", "u1", START_MS + 1_000, "one", true, &call),
        entry("contact-e", "u3", START_MS + 3_000, "three", true, &call),
        entry("contact-e", "u2", START_MS + 2_000, "two", false, &call),
    ]);
    let uploaded = upload(&org, &token, &[file("contact-e", content)]).await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    let get = |query: &str| {
        let request = org
            .http
            .get(format!("{}/services/data/v62.0/connect/conversation/contact-e/entries{query}", org.emu.base_url()))
            .bearer_auth(&token);
        async move { answer(request.send().await.expect("transport")).await }
    };
    let all = get("").await;
    assert_eq!(all.status, 200, "{}", all.body);
    let texts = |a: &Answer| -> Vec<String> {
        a.body["conversationEntries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["messageText"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(texts(&all), vec!["one", "two", "three"]);
    let first = &all.body["conversationEntries"][0];
    assert_eq!(first["identifier"], "u1");
    assert_eq!(first["clientTimestamp"], START_MS + 1_000);
    assert_eq!(first["clientDuration"], 1);
    assert_eq!(
        first["sender"],
        json!({"appType": "TELEPHONY_INTEGRATION", "role": "AGENT", "subject": "contact-eVIRTUAL_AGENT"})
    );
    assert_eq!(first["relatedRecords"], json!([call]));
    assert_eq!(first["serverReceivedTimestamp"], json!(org.emu.conversation_uploads()[0].uploaded_at));
    assert_eq!(texts(&get("?recordLimit=2").await), vec!["two", "three"]);
    assert_eq!(texts(&get("?recordLimit=2&queryDirection=FromStart").await), vec!["one", "two"]);
    let window = format!("?startTimestamp={}&endTimestamp={}", START_MS + 1_500, START_MS + 2_500);
    assert_eq!(texts(&get(&window).await), vec!["two"]);
    assert_error(&get("?recordLimit=0").await, 400, "INVALID_API_INPUT", "recordLimit");
    assert_error(&get("?queryDirection=Sideways").await, 400, "INVALID_API_INPUT", "queryDirection");
    let unknown = org
        .http
        .get(format!("{}/services/data/v62.0/connect/conversation/nobody/entries", org.emu.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("transport");
    assert_eq!(unknown.status().as_u16(), 404);
}
