//! The Telephony Integration API over HTTP: authorization, every endpoint and its validation.

mod common;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sf_emulator::keys::{SCRT_AUDIENCE, TestKeyPair, scrt_claims};
use sf_emulator::{RoutingAnswer, RoutingConfig};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn authorization_rules() {
    let org = Org::start().await;
    let path = "/telephony/v1/voiceCalls/k1/reroute";
    org.create_call("k1").await;
    let sign = |claims: Value| org.keys.sign(&claims).expect("sign");
    let base = scrt_claims(ORG, CC, 120);
    let with = |key: &str, value: Value| {
        let mut c = base.clone();
        c[key] = value;
        c["jti"] = json!(uuid::Uuid::new_v4().to_string());
        c
    };
    let t = now();
    let other = TestKeyPair::generate().expect("keygen");
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing header", None, "Authorization header is missing"),
        (
            "expired",
            Some(sign(json!({"iss": ORG, "sub": CC, "aud": SCRT_AUDIENCE, "iat": t - 100, "exp": t - 10}))),
            "expired",
        ),
        ("wrong aud", Some(sign(with("aud", json!("https://login.salesforce.com")))), "wrong aud"),
        (
            "no aud (official JS functions)",
            Some(sign({
                let mut c = base.clone();
                c.as_object_mut().map(|m| m.remove("aud"));
                c["jti"] = json!("x1");
                c
            })),
            "'aud' is missing",
        ),
        ("wrong iss", Some(sign(with("iss", json!("00DOTHER000000")))), "wrong iss"),
        ("wrong sub", Some(sign(with("sub", json!("OtherCC")))), "wrong sub"),
        (
            "lifetime 5 min",
            Some(sign(json!({"iss": ORG, "sub": CC, "aud": SCRT_AUDIENCE, "iat": t, "exp": t + 300}))),
            "lifetime too long",
        ),
        ("other key", Some(other.scrt_token(ORG, CC, 60).expect("sign")), "bad signature"),
        (
            "HS256",
            Some(
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), &base, &EncodingKey::from_secret(b"s"))
                    .expect("hs"),
            ),
            "only RS256",
        ),
        ("none", Some(format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&base.to_string()))), "only RS256"),
        ("garbage", Some("not-a-jwt".to_owned()), "not a well-formed JWT"),
    ];
    for (name, token, text) in cases {
        let answer = org.send_with("POST", path, None, token.as_deref()).await;
        assert_eq!(answer.status, 401, "{name}: {}", answer.body);
        assert_eq!(answer.body[0]["errorCode"], "INVALID_AUTH", "{name}");
        let message = answer.body[0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(text), "{name}: {message}");
        if let Some(token) = &token {
            assert!(!message.contains(token.as_str()), "{name}: the token is echoed");
        }
    }
    assert_eq!(org.emu.voice_call("k1").expect("call").routing.reroute_count, 0, "no refused call got through");

    // A good token works once; its replay is refused.
    let token = org.token();
    assert_eq!(org.send_with("POST", path, None, Some(&token)).await.status, 200);
    assert_error(&org.send_with("POST", path, None, Some(&token)).await, 401, "INVALID_AUTH", "replayed jti");
    // A token without jti is accepted repeatedly (jti is optional).
    let no_jti = {
        let mut c = scrt_claims(ORG, CC, 60);
        c.as_object_mut().map(|m| m.remove("jti"));
        org.keys.sign(&c).expect("sign")
    };
    assert_eq!(org.send_with("POST", path, None, Some(&no_jti)).await.status, 200);
    assert_eq!(org.send_with("POST", path, None, Some(&no_jti)).await.status, 200);
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn key_rotation_and_pkcs1_public_keys() {
    let org = Org::start().await;
    let next = TestKeyPair::generate().expect("keygen");
    let path = "/telephony/v1/voiceCalls";
    let new_token = next.scrt_token(ORG, CC, 60).expect("sign");
    assert_eq!(org.send_with("POST", path, Some(inbound("k1")), Some(&new_token)).await.status, 401);
    // Both keys during the rotation, the new one as PKCS#1 "RSA PUBLIC KEY".
    org.emu.set_scrt_public_keys(vec![org.keys.public_pem.clone(), next.public_pkcs1_pem().expect("pkcs1")]);
    let new_token = next.scrt_token(ORG, CC, 60).expect("sign");
    assert_eq!(org.send_with("POST", path, Some(inbound("k1")), Some(&new_token)).await.status, 200);
    assert_eq!(org.send("POST", path, Some(inbound("k2"))).await.status, 200);
    // Old key retired.
    org.emu.set_scrt_public_keys(vec![next.public_pem.clone()]);
    assert_error(&org.send("POST", path, Some(inbound("k3"))).await, 401, "INVALID_AUTH", "bad signature");
    org.emu.set_scrt_public_keys(vec![]);
    assert_error(&org.send("POST", path, Some(inbound("k3"))).await, 401, "INVALID_AUTH", "no SCRT public key");
    assert!(org.emu.try_set_scrt_public_keys(vec!["junk".into()]).is_err());
}

#[tokio::test]
async fn create_voice_call_over_http() {
    let org = Org::start().await;
    let path = "/telephony/v1/voiceCalls";
    let answer = org.send("POST", path, Some(inbound("contact-1"))).await;
    assert_eq!(answer.status, 200);
    let id = answer.body["voiceCallId"].as_str().expect("id").to_owned();
    assert_eq!(answer.body, json!({"voiceCallId": id, "errors": []}));
    assert!(id.starts_with("0LQ") && id.len() == 15, "{id}");

    // Idempotent on vendorCallKey.
    let again = org.send("POST", path, Some(inbound("contact-1"))).await;
    assert_eq!(again.body["voiceCallId"], id.as_str());
    assert_eq!(org.emu.voice_calls().len(), 1);

    // Transfer: parent by vendorCallKey is resolved to its 0LQ id.
    let mut transfer = inbound("contact-2");
    transfer["initiationMethod"] = json!("Transfer");
    transfer["parentVoiceCallId"] = json!("contact-1");
    transfer["queue"] = json!("arn:aws:connect:queue/1");
    transfer.as_object_mut().map(|m| m.remove("callSubtype"));
    assert_eq!(org.send("POST", path, Some(transfer.clone())).await.status, 200);
    let child = org.emu.voice_call("contact-2").expect("child");
    assert_eq!(child.parent_voice_call_id.as_deref(), Some(id.as_str()));
    assert_eq!(child.call_subtype.as_deref(), Some("PSTN"), "PSTN is the default");

    let call = org.emu.voice_call(&id).expect("by id");
    assert_eq!(call.vendor_call_key, "contact-1");
    assert_eq!(call.call_attributes.get("UserInputNum__c"), Some(&json!(10)));
    assert!(call.is_active_call);
    assert_eq!(call.call_disposition, "in-progress");

    let mut no_parent = transfer.clone();
    no_parent["vendorCallKey"] = json!("contact-3");
    no_parent.as_object_mut().map(|m| m.remove("parentVoiceCallId"));
    assert_error(&org.send("POST", path, Some(no_parent)).await, 400, "INVALID_INPUT", "parentVoiceCallId");
    let mut outbound = inbound("contact-4");
    outbound["initiationMethod"] = json!("Outbound");
    assert_error(&org.send("POST", path, Some(outbound)).await, 400, "INVALID_INPUT", "initiationMethod");
    let mut attrs = inbound("contact-5");
    attrs["callAttributes"] = json!({"A__c": "x"});
    assert_error(&org.send("POST", path, Some(attrs)).await, 400, "INVALID_INPUT", "callAttributes");
    let mut other_cc = inbound("contact-6");
    other_cc["callCenterApiName"] = json!("Other");
    assert_error(&org.send("POST", path, Some(other_cc)).await, 400, "INVALID_INPUT", "callCenterApiName");
    assert_error(&org.send("POST", path, None).await, 400, "JSON_PARSER_ERROR", "body is required");
    assert_eq!(org.emu.voice_calls().len(), 2, "refused creates stored nothing");
}

#[tokio::test]
async fn http_level_errors() {
    let org = Org::start().await;
    let answer = org.send("GET", "/telephony/v1/voiceCalls", None).await;
    assert_error(&answer, 405, "METHOD_NOT_ALLOWED", "GET");
    assert_eq!(answer.headers.get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
    assert_error(
        &org.send("POST", "/telephony/v1/voiceCalls/k/omniFlow", None).await,
        405,
        "METHOD_NOT_ALLOWED",
        "PATCH",
    );
    assert_error(&org.send("POST", "/telephony/v1/nothing", None).await, 404, "NOT_FOUND", "/telephony/v1/nothing");
    assert_error(&org.send_with("GET", "/services/data", None, None).await, 404, "NOT_FOUND", "/services/data");

    // Malformed JSON and wrong content type.
    let token = org.token();
    let response = org
        .http
        .post(format!("{}/telephony/v1/voiceCalls", org.emu.base_url()))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body("{\"vendorCallKey\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body[0]["errorCode"], "JSON_PARSER_ERROR");
    let response = org
        .http
        .post(format!("{}/telephony/v1/voiceCalls", org.emu.base_url()))
        .bearer_auth(org.token())
        .header("Content-Type", "application/xml")
        .body("<voiceCall/>")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 415);
}

#[tokio::test]
async fn update_voice_call_over_http() {
    let org = Org::start().await;
    let id = org.create_call("contact-1").await;
    let by_id = org
        .send(
            "PATCH",
            &format!("/telephony/v1/voiceCalls/{id}"),
            Some(json!({"isActiveCall": true, "numberOfHolds": 1})),
        )
        .await;
    assert_eq!((by_id.status, by_id.body.clone()), (200, json!({"status": "pending"})));
    assert!(org.emu.voice_call(&id).expect("call").is_active_call);

    // The official CTR sync body: documented fields plus extras production accepts.
    let ctr = json!({
        "callCenterApiName": CC, "startTime": "2024-01-01T10:00:00Z", "endTime": "2024-01-01T10:05:00Z",
        "parentCallIdentifier": "p-1", "disconnectReason": {"value": "TELECOM_PROBLEM", "isError": true},
        "acceptTime": "2024-01-01T10:00:30Z", "totalHoldDuration": 12, "longestHoldDuration": 10,
        "agentInteractionDuration": 200, "numberOfHolds": 2, "enqueueTime": "2024-01-01T10:00:05Z", "queue": "BasicQueue",
        "initiationMethod": "INBOUND", "toNumber": "+18005550100", "fromNumber": "+14155550100", "callSubType": "PSTN",
        "recordingLocation": "bucket/rec.wav", "callAttributes": "{\"B__c\":\"y\"}"
    });
    assert_eq!(org.send("PATCH", "/telephony/v1/voiceCalls/contact-1", Some(ctr)).await.status, 200);
    let call = org.emu.voice_call("contact-1").expect("call");
    assert!(!call.is_active_call, "an update without isActiveCall true closes the conversation");
    assert_eq!(call.call_disposition, "completed");
    assert_eq!(call.fields["totalHoldDuration"], 12);
    assert_eq!(call.fields["callSubType"], "PSTN");
    assert_eq!(call.fields["disconnectReason"]["value"], "TELECOM_PROBLEM");
    assert_eq!(call.update_count, 2);
    assert_eq!(call.end_time.as_deref(), Some("2024-01-01T10:05:00Z"));
    assert_eq!(call.call_attributes.get("B__c"), Some(&json!("y")));

    assert_error(
        &org.send("PATCH", "/telephony/v1/voiceCalls/contact-1", Some(json!({"totalHoldDuration": "12"}))).await,
        400,
        "INVALID_INPUT",
        "totalHoldDuration",
    );
    assert_error(
        &org.send("PATCH", "/telephony/v1/voiceCalls/contact-1", Some(json!({"endTime": "10:05"}))).await,
        400,
        "INVALID_INPUT",
        "endTime",
    );
    assert_error(
        &org.send("PATCH", "/telephony/v1/voiceCalls/contact-1", Some(json!({"disconnectReason": {"value": "X"}})))
            .await,
        400,
        "INVALID_INPUT",
        "disconnectReason.isError",
    );
    assert_error(
        &org.send("PATCH", "/telephony/v1/voiceCalls/contact-1", Some(json!({"isActiveCall": 1}))).await,
        400,
        "INVALID_INPUT",
        "isActiveCall",
    );
    assert_error(
        &org.send("PATCH", "/telephony/v1/voiceCalls/0LQEM00000ZZZZZ", Some(json!({}))).await,
        404,
        "NOT_FOUND",
        "0LQEM00000ZZZZZ",
    );

    // Unknown call: the update creates it (voicemail, abandoned calls). Percent-encoded ids are decoded.
    let vm = json!({"callCenterApiName": CC, "recordingLocation": "b/vm.wav", "totalRecordingDuration": 9,
        "startTime": "2024-01-01T11:00:00Z", "endTime": "2024-01-01T11:01:00Z", "callOrigin": "Voicemail", "isActiveCall": true});
    assert_eq!(org.send("PATCH", "/telephony/v1/voiceCalls/vm%20contact", Some(vm)).await.status, 200);
    let created = org.emu.voice_call("vm contact").expect("created by update");
    assert!(created.created_by_update && created.is_active_call);
    assert_eq!(created.call_origin.as_deref(), Some("Voicemail"));
}

#[tokio::test]
async fn transcripts_single_and_bulk() {
    let org = Org::start().await;
    org.create_call("c1").await;
    org.create_call("c2").await;
    let t = START_MS + 1_000;
    let single =
        org.send("POST", "/telephony/v1/voiceCalls/c1/messages", Some(message("m1", "END_USER", "END_USER", t))).await;
    assert_eq!((single.status, single.body), (202, json!({"result": "Accepted"})));
    // Official ITIA sendMessage adds callCenterApiName; kvsTranscriber uses a trailing slash.
    let mut with_cc = message("m2", "HUMAN_AGENT", "005123456789abc", t);
    with_cc["callCenterApiName"] = json!(CC);
    assert_eq!(org.send("POST", "/telephony/v1/voiceCalls/c1/messages/", Some(with_cc)).await.status, 202);
    assert_eq!(
        org.send("POST", "/telephony/v1/voiceCalls/c1/messages", Some(message("m1", "END_USER", "END_USER", t)))
            .await
            .status,
        202,
        "duplicate accepted"
    );
    assert_error(
        &org.send("POST", "/telephony/v1/voiceCalls/c1/messages", Some(message("m3", "HUMAN_AGENT", "agent-1", t)))
            .await,
        400,
        "INVALID_INPUT",
        "participantId",
    );
    assert_error(
        &org.send(
            "POST",
            "/telephony/v1/voiceCalls/c1/messages",
            Some(message("m4", "END_USER", "x", START_MS - 10_000)),
        )
        .await,
        400,
        "INVALID_INPUT",
        "before the conversation start",
    );
    assert_error(
        &org.send("POST", "/telephony/v1/voiceCalls/ghost/messages", Some(message("m5", "END_USER", "x", t))).await,
        404,
        "NOT_FOUND",
        "Conversation does not exist",
    );
    let c1 = org.emu.voice_call("c1").expect("c1");
    assert_eq!(c1.messages.len(), 2);
    assert_eq!(c1.duplicate_messages, 1);
    assert_eq!(c1.messages[0].participant_id, "c1END_USER");

    // Bulk: all good -> 202.
    let bulk = json!({"entries": [
        {"vendorCallKey": "c1", "messages": [message("b1", "END_USER", "END_USER", t), message("b2", "VIRTUAL_AGENT", "VIRTUAL_AGENT", t + 1)]},
        {"vendorCallKey": "c2", "messages": [message("b3", "END_USER", "END_USER", t)]}
    ]});
    let answer = org.send("POST", "/telephony/v1/voiceCalls/messages", Some(bulk)).await;
    assert_eq!((answer.status, answer.body), (202, json!({"result": "Accepted"})));
    assert_eq!(org.emu.voice_call("c2").expect("c2").messages[0].participant_id, "c2END_USER");

    // Partial failure: unknown conversation + an injected entry failure -> 207 multi-status.
    org.emu.fail_bulk_entries("c2", 1);
    let bulk = json!({"entries": [
        {"vendorCallKey": "c1", "messages": [message("b4", "END_USER", "END_USER", t)]},
        {"vendorCallKey": "ghost", "messages": [message("b5", "END_USER", "END_USER", t)]},
        {"vendorCallKey": "c2", "messages": [message("b6", "END_USER", "END_USER", t)]}
    ]});
    let answer = org.send("POST", "/telephony/v1/voiceCalls/messages", Some(bulk)).await;
    assert_eq!(answer.status, 207);
    assert_eq!(answer.body["result"], "Multi-Status: A few messages were not processed");
    let entries = answer.body["errorResponse"]["errorResponseEntries"].as_array().expect("entries");
    let statuses: Vec<_> = entries
        .iter()
        .map(|e| (e["vendorCallKey"].as_str().unwrap_or(""), e["status"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(statuses, [("c1", 202), ("ghost", 400), ("c2", 500)]);
    assert_eq!(entries[0]["message"], "Successfully Processed Transcripts with Id(s) [b4]");
    assert!(entries[1]["message"].as_str().unwrap_or("").contains("PERMISSION_DENIED: Conversation does not exist"));

    // Limits: 6 entries or 6 messages fail the whole request.
    let six: Vec<Value> = (0..6).map(|i| message(&format!("x{i}"), "END_USER", "END_USER", t)).collect();
    let answer = org
        .send(
            "POST",
            "/telephony/v1/voiceCalls/messages",
            Some(json!({"entries": [{"vendorCallKey": "c1", "messages": six}]})),
        )
        .await;
    assert_error(&answer, 400, "INVALID_INPUT", "at most 5");
    let entries: Vec<Value> =
        (0..6).map(|_| json!({"vendorCallKey": "c1", "messages": [message("y", "END_USER", "END_USER", t)]})).collect();
    assert_error(
        &org.send("POST", "/telephony/v1/voiceCalls/messages", Some(json!({"entries": entries}))).await,
        400,
        "INVALID_INPUT",
        "at most 5",
    );
    assert_eq!(org.emu.voice_call("c1").expect("c1").messages.len(), 5, "m1, m2, b1, b2, b4");
}

#[tokio::test]
async fn omni_flow_clear_routing_and_reroute() {
    let org = Org::start().await;
    let id = org.create_call("c1").await;
    org.emu.set_routing(
        RoutingConfig::default()
            .dialed_number("+18005550100", RoutingAnswer::queue("SupportQueue"))
            .flow("Route_VoiceCall", RoutingAnswer::agent("agent-7")),
    );
    let path = format!("/telephony/v1/voiceCalls/{id}/omniFlow");
    let answer = org.send("PATCH", &path, Some(json!({"dialedNumber": "+18005550100", "flowDevName": "Route_VoiceCall", "fallbackQueue": "FB", "flowInputParameters": {}}))).await;
    assert_eq!((answer.status, answer.body), (200, json!({"queue": "SupportQueue"})));
    let answer = org
        .send(
            "PATCH",
            "/telephony/v1/voiceCalls/c1/omniFlow",
            Some(json!({"dialedNumber": "+1999", "flowDevName": "Route_VoiceCall", "flowInputParameters": {"a": "1"}})),
        )
        .await;
    assert_eq!(answer.body, json!({"agent": "agent-7"}));
    let answer = org
        .send(
            "PATCH",
            "/telephony/v1/voiceCalls/c1/omniFlow",
            Some(json!({"dialedNumber": "+1999", "fallbackQueue": "00G000000000001"})),
        )
        .await;
    assert_eq!(answer.body, json!({"queue": "00G000000000001"}));
    let psr = org.emu.voice_call("c1").expect("call").routing.pending_service_routing.expect("psr");
    assert_eq!(psr.fallback_queue.as_deref(), Some("00G000000000001"));
    let answer =
        org.send("PATCH", "/telephony/v1/voiceCalls/c1/omniFlow", Some(json!({"dialedNumber": "+1999"}))).await;
    assert_eq!(answer.status, 200);
    assert!(answer.body["errors"].as_array().is_some_and(|e| !e.is_empty()), "{}", answer.body);
    assert_error(
        &org.send("PATCH", "/telephony/v1/voiceCalls/c1/omniFlow", Some(json!({"flowDevName": "F"}))).await,
        400,
        "INVALID_INPUT",
        "dialedNumber",
    );
    assert_error(
        &org.send("PATCH", "/telephony/v1/voiceCalls/ghost/omniFlow", Some(json!({"dialedNumber": "+1"}))).await,
        404,
        "NOT_FOUND",
        "ghost",
    );

    // clearRouting and reroute as the official function sends them: PATCH, no body, no provider header.
    let bare = |method: &str, path: &str| {
        let request = org
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{path}", org.emu.base_url()),
            )
            .bearer_auth(org.token())
            .header("Content-Type", "application/json");
        async move {
            let response = request.send().await.expect("send");
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(bare("PATCH", "/telephony/v1/voiceCalls/c1/clearRouting").await, (200, json!({"status": "Success"})));
    assert!(org.emu.voice_call("c1").expect("call").routing.pending_service_routing.is_none());
    assert_eq!(bare("PATCH", "/telephony/v1/voiceCalls/c1/reroute").await, (200, json!({"status": "Success"})));
    assert_eq!(
        bare("POST", &format!("/telephony/v1/voiceCalls/{id}/reroute")).await,
        (200, json!({"status": "Success"}))
    );
    assert_eq!(bare("PATCH", "/telephony/v1/voiceCalls/ghost/clearRouting").await.0, 404);
    assert_eq!(bare("POST", "/telephony/v1/voiceCalls/ghost/reroute").await.0, 404);
    let routing = org.emu.voice_call("c1").expect("call").routing;
    assert_eq!((routing.execute_count, routing.clear_count, routing.reroute_count), (4, 1, 2));
    let reroutes = org.emu.requests_to("PATCH", "/telephony/v1/voiceCalls/c1/reroute");
    assert_eq!(reroutes.len(), 1);
    assert_eq!(reroutes[0].telephony_provider_name, None);
}

#[tokio::test]
async fn conversation_events() {
    let org = Org::start().await;
    org.create_call("c1").await;
    let rt = json!({"service": "AmazonConnectContactLens", "persist": false, "events": [
        {"type": "IntelligenceSignal__Category", "value": "CustomerAngry", "startTime": START_MS, "details": {"BeginOffsetMillis": 1}},
        {"type": "IntelligenceSignal__Sentiment", "value": "400.13", "startTime": START_MS + 1, "score": 10, "participant": "CUSTOMER"}
    ]});
    let answer = org.send("POST", "/telephony/v1/voiceCalls/c1/realtimeConversationEvents", Some(rt)).await;
    assert_eq!((answer.status, answer.body), (202, json!({"status": "202 Accepted"})));
    let unsorted = json!({"service": "S", "events": [
        {"type": "IntelligenceSignal__Category", "value": "B", "startTime": 2},
        {"type": "IntelligenceSignal__Category", "value": "A", "startTime": 1}
    ]});
    assert_error(
        &org.send("POST", "/telephony/v1/voiceCalls/c1/realtimeConversationEvents", Some(unsorted)).await,
        400,
        "INVALID_INPUT",
        "sorted",
    );
    let out_of_range = json!({"service": "S", "events": [{"type": "IntelligenceSignal__Sentiment", "value": "2000", "startTime": 1, "participant": "AGENT"}]});
    assert_error(
        &org.send("POST", "/telephony/v1/voiceCalls/c1/realtimeConversationEvents", Some(out_of_range)).await,
        400,
        "INVALID_INPUT",
        "between",
    );
    assert_error(&org.send("POST", "/telephony/v1/voiceCalls/ghost/realtimeConversationEvents", Some(json!({"service": "S", "events": [{"type": "IntelligenceSignal__Category", "value": "A", "startTime": 1}]}))).await, 404, "NOT_FOUND", "ghost");

    let pc = json!({"service": "AmazonConnectContactLens", "events": [
        {"type": "IntelligenceSignal__Sentiment", "value": "1000", "startTime": 1, "endTime": 9, "participant": "AGENT"},
        {"type": "IntelligenceSignal__OverallSentimentScore", "value": "-2.4", "startTime": 2, "endTime": 3, "participant": "CUSTOMER"}
    ]});
    let answer = org.send("POST", "/telephony/v1/voiceCalls/c1/postConversationEvents", Some(pc)).await;
    assert_eq!((answer.status, answer.body), (202, json!({"status": "202 Accepted"})));
    let bad = json!({"service": "AmazonConnectContactLens", "events": [{"type": "IntelligenceSignal__Sentiment", "value": "1", "startTime": 1, "endTime": 2, "participant": "BOT"}]});
    assert_error(
        &org.send("POST", "/telephony/v1/voiceCalls/c1/postConversationEvents", Some(bad)).await,
        400,
        "INVALID_INPUT",
        "participant",
    );
    let call = org.emu.voice_call("c1").expect("call");
    assert_eq!((call.realtime_events.len(), call.post_call_events.len()), (2, 2));
}
