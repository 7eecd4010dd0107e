//! The Salesforce REST side over HTTP: OAuth 2.0 JWT bearer flow, sObjects, platform events, SOQL, SOSL,
//! the VoiceCall projection of Telephony API records, faults and the control API.

mod common;

use common::*;
use serde_json::{Value, json};
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, Fault, RestConfig};

const CONSUMER_KEY: &str = "3MVG9-emulator-consumer-key";
const USER: &str = "integration@acme.example";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims() -> Value {
    json!({
        "iss": CONSUMER_KEY, "sub": USER, "aud": "https://login.salesforce.com",
        "iat": now(), "exp": now() + 180, "jti": uuid::Uuid::new_v4().to_string(),
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        claims.as_object_mut().map(|m| m.remove(key));
    } else {
        claims[key] = value;
    }
    claims
}

/// An org whose connected app certificate is the test key pair.
async fn start() -> Org {
    let org = Org::start().await;
    org.emu.set_connected_app_public_keys(vec![org.keys.public_pem.clone()]);
    org
}

fn set_rest(emu: &Emulator, change: impl FnOnce(&mut RestConfig)) {
    let mut config = emu.rest_config();
    change(&mut config);
    emu.set_rest_config(config);
}

async fn post_token(org: &Org, form: &[(&str, &str)]) -> Answer {
    let response = org.http.post(org.emu.token_url()).form(form).send().await.expect("token transport");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("text");
    Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)), headers }
}

async fn token_for(org: &Org, claims: &Value) -> Answer {
    let assertion = org.keys.sign(claims).expect("sign");
    post_token(org, &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)]).await
}

async fn token(org: &Org) -> String {
    let answer = token_for(org, &claims()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["access_token"].as_str().expect("access_token").to_owned()
}

/// A REST call; `path` is relative to `/services/data/v62.0` unless it starts with `/services`.
async fn rest(org: &Org, method: &str, path: &str, body: Option<Value>, token: &str) -> Answer {
    let full = if path.starts_with("/services") { path.to_owned() } else { format!("/services/data/v62.0{path}") };
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = org.http.request(method, format!("{}{full}", org.emu.base_url())).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("transport");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("text");
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Answer { status, body, headers }
}

async fn query(org: &Org, soql: &str, token: &str) -> Answer {
    let encoded: String = percent_encoding::utf8_percent_encode(soql, percent_encoding::NON_ALPHANUMERIC).to_string();
    rest(org, "GET", &format!("/query/?q={encoded}"), None, token).await
}

fn names(answer: &Answer, field: &str) -> Vec<String> {
    answer.body["records"]
        .as_array()
        .map(|records| records.iter().map(|r| r[field].as_str().unwrap_or("<null>").to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn oauth_jwt_bearer_flow_issues_tokens_and_names_every_refusal() {
    let org = start().await;
    let answer = token_for(&org, &claims()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = &answer.body;
    let access = body["access_token"].as_str().expect("token");
    let (org_part, secret) = access.split_once('!').expect("orgId!secret");
    assert_eq!(org_part, ORG);
    assert_eq!(secret.len(), 96);
    assert!(secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_'));
    assert_eq!(body["instance_url"], org.emu.base_url());
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api");
    let id = body["id"].as_str().expect("id");
    assert!(id.starts_with(&format!("{}/id/{ORG}/005", org.emu.base_url())), "{id}");
    let issued: i64 = body["issued_at"].as_str().expect("issued_at").parse().expect("ms");
    assert!((issued / 1000 - now()).abs() < 5);
    assert!(!body["signature"].as_str().unwrap_or_default().is_empty());

    let base_aud = org.emu.base_url();
    let ok_cases = [
        ("test.salesforce.com", with(claims(), "aud", json!("https://test.salesforce.com/"))),
        ("own base url", with(claims(), "aud", json!(base_aud))),
        ("aud array", with(claims(), "aud", json!(["https://login.salesforce.com"]))),
    ];
    for (name, c) in ok_cases {
        let answer = token_for(&org, &c).await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.body);
    }

    let other = TestKeyPair::generate().expect("keygen");
    let t = now();
    let cases: Vec<(&str, Answer, &str, &str)> = vec![
        (
            "wrong iss",
            token_for(&org, &with(claims(), "iss", json!("3MVG9-other"))).await,
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            "wrong aud",
            token_for(&org, &with(claims(), "aud", json!("https://scrt.salesforce.com"))).await,
            "invalid_grant",
            "audience is invalid",
        ),
        (
            "missing aud",
            token_for(&org, &with(claims(), "aud", Value::Null)).await,
            "invalid_grant",
            "audience is invalid",
        ),
        (
            "unknown user",
            token_for(&org, &with(claims(), "sub", json!("someone@else.example"))).await,
            "invalid_grant",
            "user hasn't approved this consumer",
        ),
        (
            "expired",
            token_for(&org, &with(with(claims(), "exp", json!(t - 60)), "iat", json!(t - 200))).await,
            "invalid_grant",
            "expired authorization code",
        ),
        (
            "exp too far",
            token_for(&org, &with(claims(), "exp", json!(t + 600))).await,
            "invalid_grant",
            "invalid assertion",
        ),
        ("no exp", token_for(&org, &with(claims(), "exp", Value::Null)).await, "invalid_grant", "invalid assertion"),
        (
            "other key",
            post_token(
                &org,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", &other.sign(&claims()).expect("sign")),
                ],
            )
            .await,
            "invalid_grant",
            "invalid assertion",
        ),
        (
            "garbage",
            post_token(
                &org,
                &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", "not-a-jwt")],
            )
            .await,
            "invalid_grant",
            "invalid assertion",
        ),
        (
            "no assertion",
            post_token(&org, &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")]).await,
            "invalid_grant",
            "invalid assertion",
        ),
        (
            "password grant",
            post_token(&org, &[("grant_type", "password"), ("username", USER)]).await,
            "unsupported_grant_type",
            "grant type not supported",
        ),
    ];
    for (name, answer, error, description) in cases {
        assert_eq!(answer.status, 400, "{name}: {}", answer.body);
        assert_eq!(answer.body["error"], error, "{name}: {}", answer.body);
        assert_eq!(answer.body["error_description"], description, "{name}: {}", answer.body);
        assert!(
            !answer.body["emulator_detail"].as_str().unwrap_or_default().is_empty(),
            "{name}: the detail names the problem"
        );
    }
    assert_eq!(org.emu.issued_token_count(), 4);

    // The token works on the REST API.
    let answer = query(&org, "SELECT Id, Username FROM User", access).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(names(&answer, "Username"), vec![USER.to_owned()]);
}

#[tokio::test]
async fn access_tokens_expire_and_secrets_are_never_recorded() {
    let org = start().await;
    set_rest(&org.emu, |c| c.token_lifetime_secs = 1);
    let short = token(&org).await;
    let answer = rest(&org, "GET", "/sobjects/Account/001EM0000000001", None, &short).await;
    assert_error(&answer, 404, "NOT_FOUND", "does not exist");
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let answer = rest(&org, "GET", "/sobjects/Account/001EM0000000001", None, &short).await;
    assert_error(&answer, 401, "INVALID_SESSION_ID", "Session expired or invalid");

    set_rest(&org.emu, |c| c.token_lifetime_secs = 7200);
    let long = token(&org).await;
    assert_eq!(query(&org, "SELECT Id FROM Account", &long).await.status, 200);
    org.emu.expire_access_tokens();
    assert_error(
        &query(&org, "SELECT Id FROM Account", &long).await,
        401,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
    );
    let again = token(&org).await;
    assert_eq!(query(&org, "SELECT Id FROM Account", &again).await.status, 200);
    let expired =
        org.http.post(format!("{}/__emulator/expire-tokens", org.emu.base_url())).send().await.expect("expire");
    assert_eq!(expired.status(), 200);
    assert_eq!(query(&org, "SELECT Id FROM Account", &again).await.status, 401);
    for bad in ["", "garbage", &format!("{ORG}!nope")] {
        assert_eq!(query(&org, "SELECT Id FROM Account", bad).await.status, 401, "{bad}");
    }
    assert_eq!(org.emu.issued_token_count(), 3);

    // Nothing secret is recorded or served.
    let assertion = org.keys.sign(&claims()).expect("sign");
    let answer =
        post_token(&org, &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)])
            .await;
    let fresh = answer.body["access_token"].as_str().expect("token").to_owned();
    assert_eq!(query(&org, "SELECT Id FROM Account", &fresh).await.status, 200);
    let base = org.emu.base_url();
    let get = |path: &'static str| {
        let http = org.http.clone();
        let url = format!("{base}{path}");
        async move { http.get(url).send().await.expect("get").text().await.expect("text") }
    };
    let listed = get("/__emulator/requests").await;
    let state = get("/__emulator/state").await;
    let debug = format!("{:?}", org.emu.requests());
    for (name, text) in [("requests", &listed), ("state", &state), ("debug", &debug)] {
        for secret in [&short, &long, &again, &fresh, &assertion] {
            assert!(!text.contains(secret.as_str()), "{name} contains a secret");
            // The last piece after '!' or '.' (a session secret or a JWT signature); a piece too
            // short to be specific (tokens may end in ".x") would match by chance.
            let tail = secret.rsplit(['!', '.']).next().unwrap_or_default();
            if tail.len() >= 16 {
                assert!(!text.contains(tail), "{name} contains part of a secret");
            }
        }
    }
    let token_requests = org.emu.requests_to("POST", "/services/oauth2/token");
    let last = token_requests.last().expect("token request");
    assert_eq!(last.body["assertion"], "[REDACTED]");
    assert_eq!(last.body["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
    assert_eq!(last.jwt_claims.as_ref().expect("claims")["iss"], CONSUMER_KEY);
    assert_eq!(last.response["access_token"], "[REDACTED]");
    let data = org.emu.requests().into_iter().filter(|r| r.path.starts_with("/services/data")).collect::<Vec<_>>();
    assert!(!data.is_empty());
    assert!(data.iter().all(|r| r.jwt_claims.is_none()));
}

#[tokio::test]
async fn sobjects_crud_and_errors() {
    let org = start().await;
    let t = token(&org).await;
    let created =
        rest(&org, "POST", "/sobjects/account", Some(json!({"Name": "Acme", "Phone": "+1 415 555 0100"})), &t).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("001") && id.len() == 15, "{id}");
    assert_eq!(created.body["success"], true);
    assert_eq!(created.body["errors"], json!([]));

    let got = rest(&org, "GET", &format!("/sobjects/Account/{id}"), None, &t).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["attributes"]["type"], "Account");
    assert_eq!(got.body["attributes"]["url"], format!("/services/data/v62.0/sobjects/Account/{id}"));
    assert_eq!(got.body["Name"], "Acme");
    assert_eq!(got.body["Industry"], Value::Null);
    let created_date = got.body["CreatedDate"].as_str().expect("CreatedDate");
    assert_eq!(created_date.len(), 28, "{created_date}");
    assert!(created_date.ends_with(".000+0000") || created_date.ends_with("+0000"));
    assert!(got.body["OwnerId"].as_str().is_some_and(|o| o.starts_with("005")));

    let patched = rest(
        &org,
        "PATCH",
        &format!("/sobjects/Account/{id}"),
        Some(json!({"Industry": "Energy", "name": "Acme 2"})),
        &t,
    )
    .await;
    assert_eq!((patched.status, &patched.body), (204, &Value::Null));
    let record = org.emu.record("Account", &id).expect("record");
    assert_eq!((record["Name"].as_str(), record["Industry"].as_str()), (Some("Acme 2"), Some("Energy")));
    let fields = rest(&org, "GET", &format!("/sobjects/Account/{id}?fields=Name"), None, &t).await;
    assert_eq!(fields.body["Name"], "Acme 2");
    assert!(fields.body.get("Industry").is_none());

    // Same object through another API version, case-insensitive names, 18-character ids.
    let v50 = rest(&org, "GET", &format!("/services/data/v50.0/sobjects/ACCOUNT/{id}AAA"), None, &t).await;
    assert_eq!(v50.status, 200, "{}", v50.body);
    assert_eq!(v50.body["attributes"]["url"], format!("/services/data/v50.0/sobjects/Account/{id}"));

    #[allow(clippy::type_complexity)] // one row per case: name, path, body, status, errorCode, message part
    let errors: Vec<(&str, &str, Option<Value>, u16, &str, &str)> = vec![
        (
            "unknown object",
            "/sobjects/Opportunity",
            Some(json!({"Name": "x"})),
            404,
            "NOT_FOUND",
            "The requested resource does not exist",
        ),
        ("unknown id", "/sobjects/Account/001EM00000000ZZ", None, 404, "NOT_FOUND", "does not exist"),
        ("id of another object", "/sobjects/Contact/ID", None, 404, "NOT_FOUND", "does not exist"),
        (
            "unknown field",
            "/sobjects/Account",
            Some(json!({"Name": "x", "Bogus": 1})),
            400,
            "INVALID_FIELD",
            "No such column 'Bogus' on sobject of type Account",
        ),
        (
            "missing name",
            "/sobjects/Account",
            Some(json!({"Phone": "1"})),
            400,
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [Name]",
        ),
        (
            "missing last name",
            "/sobjects/Contact",
            Some(json!({"FirstName": "Marc"})),
            400,
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [LastName]",
        ),
        (
            "read-only field",
            "/sobjects/Case",
            Some(json!({"Subject": "s", "IsClosed": true})),
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "IsClosed",
        ),
        (
            "wrong type",
            "/sobjects/Account",
            Some(json!({"Name": "x", "NumberOfEmployees": "many"})),
            400,
            "JSON_PARSER_ERROR",
            "NumberOfEmployees",
        ),
        (
            "bad reference",
            "/sobjects/Contact",
            Some(json!({"LastName": "x", "AccountId": "001EM00000000ZZ"})),
            400,
            "INVALID_CROSS_REFERENCE_KEY",
            "AccountId",
        ),
        (
            "voice call create",
            "/sobjects/VoiceCall",
            Some(json!({"VendorCallKey": "k"})),
            400,
            "INVALID_OPERATION",
            "Telephony Integration API",
        ),
        (
            "old api version",
            "/services/data/v19.0/sobjects/Account",
            Some(json!({"Name": "x"})),
            404,
            "NOT_FOUND",
            "does not exist",
        ),
        (
            "bad version",
            "/services/data/latest/sobjects/Account",
            Some(json!({"Name": "x"})),
            404,
            "NOT_FOUND",
            "does not exist",
        ),
    ];
    for (name, path, body, status, code, text) in errors {
        let path = path.replace("ID", &id);
        let method = if body.is_some() { "POST" } else { "GET" };
        let answer = rest(&org, method, &path, body, &t).await;
        assert_error(&answer, status, code, text);
        assert!(answer.body[0]["message"].is_string(), "{name}");
    }
    let missing = rest(&org, "PATCH", &format!("/sobjects/Account/{id}"), Some(json!({"Name": null})), &t).await;
    assert_error(&missing, 400, "REQUIRED_FIELD_MISSING", "[Name]");
    let bad_json = org
        .http
        .post(format!("{}/sobjects/Account", org.emu.rest_base()))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{\"Name\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(bad_json.status(), 400);
    let body: Value = bad_json.json().await.expect("json");
    assert_eq!(body[0]["errorCode"], "JSON_PARSER_ERROR");
    let array = rest(&org, "POST", "/sobjects/Account", Some(json!([{"Name": "x"}])), &t).await;
    assert_error(&array, 400, "JSON_PARSER_ERROR", "JSON object");
    let put = rest(&org, "PUT", &format!("/sobjects/Account/{id}"), Some(json!({})), &t).await;
    assert_error(&put, 405, "METHOD_NOT_ALLOWED", "PUT");

    // Case: defaults, derived fields, relationships.
    let contact = rest(
        &org,
        "POST",
        "/sobjects/Contact",
        Some(json!({"FirstName": "Marc", "LastName": "Benioff", "Phone": "+14155551234", "AccountId": id})),
        &t,
    )
    .await;
    let contact_id = contact.body["id"].as_str().expect("contact").to_owned();
    let case = rest(
        &org,
        "POST",
        "/sobjects/Case",
        Some(json!({"Subject": "Broken", "ContactId": contact_id, "Origin": "Phone"})),
        &t,
    )
    .await;
    let case_id = case.body["id"].as_str().expect("case").to_owned();
    assert!(case_id.starts_with("500"));
    let got = org.emu.record("Case", &case_id).expect("case");
    assert_eq!((got["Status"].as_str(), got["IsClosed"].as_bool()), (Some("New"), Some(false)));
    assert_eq!(got["ContactPhone"], "+14155551234");
    let q = query(&org, "SELECT Id FROM Case WHERE ContactPhone = '+14155551234' AND IsClosed = false", &t).await;
    assert_eq!(q.body["totalSize"], 1, "{}", q.body);
    rest(&org, "PATCH", &format!("/sobjects/Case/{case_id}"), Some(json!({"Status": "Closed"})), &t).await;
    assert_eq!(org.emu.record("Case", &case_id).expect("case")["IsClosed"], true);
    let q = query(&org, "SELECT Id FROM Case WHERE ContactPhone = '+14155551234' AND IsClosed = false", &t).await;
    assert_eq!(q.body["totalSize"], 0, "{}", q.body);
    assert_eq!(org.emu.records("Contact")[0]["Name"], "Marc Benioff");

    // Custom objects keep their spelling; any __c field is accepted.
    let custom = rest(
        &org,
        "POST",
        "/sobjects/Callback_Request__c",
        Some(json!({"Name": "cb", "Phone__c": "+1", "Attempts__c": 2})),
        &t,
    )
    .await;
    assert_eq!(custom.status, 201, "{}", custom.body);
    let records = org.emu.records("callback_request__c");
    assert_eq!(records[0]["attributes"]["type"], "Callback_Request__c");
    assert_eq!(records[0]["Attempts__c"], 2);
    let bad = rest(&org, "POST", "/sobjects/Callback_Request__c", Some(json!({"Phone": "+1"})), &t).await;
    assert_error(&bad, 400, "INVALID_FIELD", "No such column 'Phone'");

    // Delete.
    let deleted = rest(
        &org,
        "DELETE",
        &format!("/sobjects/Callback_Request__c/{}", custom.body["id"].as_str().unwrap_or_default()),
        None,
        &t,
    )
    .await;
    assert_eq!(deleted.status, 204);
    assert!(org.emu.records("Callback_Request__c").is_empty());

    // Seeding with the same validation.
    assert!(
        org.emu
            .insert_record("Account", json!({"Phone": "1"}))
            .is_err_and(|e| e.to_string().contains("REQUIRED_FIELD_MISSING"))
    );
    let seeded = org.emu.insert_record("Account", json!({"Name": "Seeded"})).expect("seed");
    assert!(seeded.starts_with("001"));
}

#[tokio::test]
async fn platform_event_publish_answers_operation_enqueued() {
    let org = start().await;
    let t = token(&org).await;
    let event = json!({
        "Name": "HighQueueWait", "Description": "Queue wait above 5 min",
        "Source": "Cloudwatch Alarm from account 123456789012", "Severity": "Critical",
        "Payload": "Threshold Crossed Trigger condition: {}", "EventDateTime": "2021-10-18T10:34:24.000Z"
    });
    let answer = rest(&org, "POST", "/sobjects/RealtimeAlertEvent", Some(event), &t).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let id = answer.body["id"].as_str().expect("id");
    assert!(id.starts_with("e00") && id.len() == 15, "{id}");
    assert_eq!(answer.body["success"], true);
    let error = &answer.body["errors"][0];
    assert_eq!(error["statusCode"], "OPERATION_ENQUEUED");
    assert_eq!(error["fields"], json!([]));
    let uuid = error["message"].as_str().expect("uuid");
    assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{uuid}");
    let events = org.emu.platform_events("RealtimeAlertEvent");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["Severity"], "Critical");
    assert_eq!(events[0]["EventDateTime"], "2021-10-18T10:34:24.000+0000");
    assert_eq!(events[0]["EventUuid"], uuid);

    for (body, code, text) in [
        (json!({"Severity": "Urgent"}), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Severity"),
        (json!({"EventDateTime": "yesterday"}), "JSON_PARSER_ERROR", "EventDateTime"),
        (json!({"Color": "red"}), "INVALID_FIELD", "No such column 'Color' on sobject of type RealtimeAlertEvent"),
        (json!({"ReplayId": "1"}), "INVALID_FIELD_FOR_INSERT_UPDATE", "ReplayId"),
    ] {
        let answer = rest(&org, "POST", "/sobjects/realtimealertevent", Some(body), &t).await;
        assert_error(&answer, 400, code, text);
    }
    let query = query(&org, "SELECT Id FROM RealtimeAlertEvent", &t).await;
    assert_error(&query, 400, "INVALID_TYPE", "does not support query");
    let listed: Value = org
        .http
        .get(format!("{}/__emulator/platform-events/RealtimeAlertEvent", org.emu.base_url()))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn soql_paging_relationships_order_and_errors() {
    let org = start().await;
    set_rest(&org.emu, |c| c.query_batch_size = 2);
    let t = token(&org).await;
    let mut ids = Vec::new();
    for (name, employees) in [("Echo", 5), ("alpha", 1), ("Delta", 4), ("Bravo", 2), ("Charlie", 3)] {
        ids.push(
            org.emu
                .insert_record("Account", json!({"Name": name, "NumberOfEmployees": employees, "Industry": if employees % 2 == 0 { "Energy" } else { "Media" }}))
                .expect("seed"),
        );
    }
    // Paging through nextRecordsUrl.
    let first = query(&org, "SELECT Id, Name FROM Account ORDER BY Name", &t).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!((first.body["totalSize"].as_u64(), first.body["done"].as_bool()), (Some(5), Some(false)));
    assert_eq!(names(&first, "Name"), ["alpha", "Bravo"]);
    assert_eq!(first.body["records"][0]["attributes"]["type"], "Account");
    let next = first.body["nextRecordsUrl"].as_str().expect("next").to_owned();
    assert!(next.starts_with("/services/data/v62.0/query/01g") && next.ends_with("-2"), "{next}");
    let second = rest(&org, "GET", &next, None, &t).await;
    assert_eq!(names(&second, "Name"), ["Charlie", "Delta"]);
    assert_eq!(second.body["done"], false);
    let last_url = second.body["nextRecordsUrl"].as_str().expect("next").to_owned();
    let last = rest(&org, "GET", &last_url, None, &t).await;
    assert_eq!(names(&last, "Name"), ["Echo"]);
    assert_eq!((last.body["done"].as_bool(), last.body["totalSize"].as_u64()), (Some(true), Some(5)));
    assert!(last.body.get("nextRecordsUrl").is_none());
    let gone = rest(&org, "GET", &last_url, None, &t).await;
    assert_error(&gone, 400, "INVALID_QUERY_LOCATOR", "invalid query locator");

    // ORDER BY DESC, LIMIT, OFFSET, operators.
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("SELECT Name FROM Account ORDER BY NumberOfEmployees DESC LIMIT 2", vec!["Echo", "Delta"]),
        ("SELECT Name FROM Account ORDER BY NumberOfEmployees LIMIT 2 OFFSET 1", vec!["Bravo", "Charlie"]),
        ("SELECT Name FROM Account WHERE NumberOfEmployees >= 4 ORDER BY Name", vec!["Delta", "Echo"]),
        ("SELECT Name FROM Account WHERE NumberOfEmployees < 2", vec!["alpha"]),
        ("SELECT Name FROM Account WHERE Name LIKE 'd%'", vec!["Delta"]),
        ("SELECT Name FROM Account WHERE Name LIKE '_ravo'", vec!["Bravo"]),
        ("SELECT Name FROM Account WHERE Name IN ('ALPHA', 'echo') ORDER BY Name", vec!["alpha", "Echo"]),
        (
            "SELECT Name FROM Account WHERE Name NOT IN ('alpha', 'Echo', 'Delta') ORDER BY Name",
            vec!["Bravo", "Charlie"],
        ),
        (
            "SELECT Name FROM Account WHERE Industry = 'Energy' AND (NumberOfEmployees = 2 OR NumberOfEmployees = 4) ORDER BY Name",
            vec!["Bravo", "Delta"],
        ),
        ("SELECT Name FROM Account WHERE NOT Industry = 'Energy' ORDER BY Name DESC LIMIT 1", vec!["Echo"]),
        (
            "SELECT Name FROM Account WHERE Name <> 'alpha' AND Name != 'Bravo' AND Name != 'Charlie' ORDER BY Name",
            vec!["Delta", "Echo"],
        ),
        (
            "SELECT Name FROM Account WHERE Phone = null AND CreatedDate = TODAY AND CreatedDate >= LAST_N_HOURS:1 AND CreatedDate < TOMORROW AND NOT CreatedDate > LAST_N_DAYS:1 AND CreatedDate > 2020-01-01T00:00:00Z ORDER BY Name LIMIT 1",
            vec!["alpha"],
        ),
        ("SELECT Name FROM Account WHERE CreatedDate = YESTERDAY", vec![]),
        ("SELECT Name FROM Account WHERE Name = 'x\\' OR Name != \\''", vec![]),
    ];
    for (soql, expected) in cases {
        let answer = query(&org, soql, &t).await;
        assert_eq!(answer.status, 200, "{soql}: {}", answer.body);
        let mut got = names(&answer, "Name");
        let mut all = got.clone();
        // The first page holds at most 2 records: follow the cursor.
        let mut next = answer.body["nextRecordsUrl"].as_str().map(str::to_owned);
        while let Some(url) = next {
            let page = rest(&org, "GET", &url, None, &t).await;
            all.extend(names(&page, "Name"));
            next = page.body["nextRecordsUrl"].as_str().map(str::to_owned);
        }
        got = all;
        assert_eq!(got, expected, "{soql}");
    }
    // The injection literal is one value: it matches a record with exactly that name.
    org.emu.insert_record("Account", json!({"Name": "x' OR Name != '"})).expect("seed");
    let answer = query(&org, "SELECT Name FROM Account WHERE Name = 'x\\' OR Name != \\''", &t).await;
    assert_eq!(names(&answer, "Name"), ["x' OR Name != '"]);
    let count = query(&org, "SELECT COUNT() FROM Account WHERE Industry = 'Media'", &t).await;
    assert_eq!((count.body["totalSize"].as_u64(), count.body["records"].clone()), (Some(3), json!([])));

    // Relationship fields.
    let with_account = org
        .emu
        .insert_record("Contact", json!({"LastName": "Benioff", "FirstName": "Marc", "AccountId": ids[0]}))
        .expect("c1");
    org.emu.insert_record("Contact", json!({"LastName": "Solo"})).expect("c2");
    let answer =
        query(&org, "select id, name, account.name, Account.Industry, Owner.Name from contact order by LastName", &t)
            .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let records = &answer.body["records"];
    assert_eq!(records[0]["Id"], with_account);
    assert_eq!(records[0]["Name"], "Marc Benioff");
    assert_eq!(records[0]["Account"]["attributes"]["type"], "Account");
    assert_eq!(records[0]["Account"]["attributes"]["url"], format!("/services/data/v62.0/sobjects/Account/{}", ids[0]));
    assert_eq!(records[0]["Account"]["Name"], "Echo");
    assert_eq!(records[0]["Account"]["Industry"], "Media");
    assert_eq!(records[0]["Owner"], Value::Null);
    assert_eq!(records[1]["Account"], Value::Null);
    let answer = query(&org, "SELECT Name FROM Contact WHERE Account.Name = 'echo'", &t).await;
    assert_eq!(names(&answer, "Name"), ["Marc Benioff"]);

    // Errors.
    let errors = [
        ("SELECT Id, Bogus FROM Account", 400, "INVALID_FIELD", "No such column 'Bogus' on entity 'Account'"),
        ("SELECT Id FROM Account WHERE Bogus__x = 1", 400, "INVALID_FIELD", "Bogus__x"),
        ("SELECT Foo.Name FROM Contact", 400, "INVALID_FIELD", "Didn't understand relationship 'Foo'"),
        ("SELECT Id FROM Opportunity", 400, "INVALID_TYPE", "sObject type 'Opportunity' is not supported"),
        ("SELECT Id FROM Account WHERE", 400, "MALFORMED_QUERY", "unexpected token: '<EOF>' at Row:1:Column:29"),
        ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", 400, "MALFORMED_QUERY", "'OR'"),
        ("SELECT Id FROM Account WHERE Name = 'x\\q'", 400, "MALFORMED_QUERY", "illegal escape sequence"),
    ];
    for (soql, status, code, text) in errors {
        assert_error(&query(&org, soql, &t).await, status, code, text);
    }
    assert_error(&rest(&org, "GET", "/query", None, &t).await, 400, "MALFORMED_QUERY", "query string");
    // Without the trailing slash too.
    let plain = rest(&org, "GET", "/query?q=SELECT+Id+FROM+Account", None, &t).await;
    assert_eq!(plain.body["totalSize"], 6, "{}", plain.body);
}

#[tokio::test]
async fn retry_ctr_sync_query_finds_exactly_the_unsynced_recent_calls() {
    let org = start().await;
    let t = token(&org).await;
    let k1 = org.create_call("k1").await;
    let k2 = org.create_call("k2").await;
    let k3 = org.create_call("k3").await;
    let k4 = org.create_call("k4").await;
    // k2: the CTR sync ran; k4: an update without the CTR fields (call ended); k3: too old.
    let synced = org
        .send(
            "PATCH",
            "/telephony/v1/voiceCalls/k2",
            Some(json!({"totalHoldDuration": 7, "numberOfHolds": 1, "longestHoldDuration": 5, "queue": "BasicQueue",
                        "acceptTime": "2024-01-01T10:00:20Z", "enqueueTime": "2024-01-01T10:00:10Z",
                        "startTime": "2024-01-01T10:00:00Z", "endTime": "2024-01-01T10:05:00Z"})),
        )
        .await;
    assert_eq!(synced.status, 200, "{}", synced.body);
    let ended =
        org.send("PATCH", "/telephony/v1/voiceCalls/k4", Some(json!({"endTime": "2024-01-01T10:01:00Z"}))).await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert!(org.emu.set_voice_call_created_date("k3", chrono::Utc::now() - chrono::Duration::days(5)));
    assert!(!org.emu.set_voice_call_created_date("nope", chrono::Utc::now()));

    let answer = query(
        &org,
        "SELECT Id, VendorCallKey FROM VoiceCall WHERE CustomerHoldDuration = null AND CreatedDate >= LAST_N_DAYS:2 ORDER BY CreatedDate LIMIT 200",
        &t,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut keys = names(&answer, "VendorCallKey");
    keys.sort();
    assert_eq!(keys, ["k1", "k4"]);
    assert_eq!(answer.body["totalSize"], 2);
    let ids: Vec<&str> =
        answer.body["records"].as_array().expect("records").iter().filter_map(|r| r["Id"].as_str()).collect();
    assert!(ids.contains(&k1.as_str()) && ids.contains(&k4.as_str()));
    assert_eq!(answer.body["records"][0]["attributes"]["type"], "VoiceCall");
    // The documented query (no date window) also finds the old call.
    let all = query(&org, "SELECT Id, VendorCallKey FROM VoiceCall WHERE CustomerHoldDuration = null", &t).await;
    assert_eq!(all.body["totalSize"], 3, "{}", all.body);

    // The projection of the synced call.
    let got = rest(&org, "GET", &format!("/sobjects/VoiceCall/{k2}"), None, &t).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let vc = &got.body;
    assert_eq!(vc["VendorCallKey"], "k2");
    assert_eq!(vc["CallType"], "Inbound");
    assert_eq!(vc["FromPhoneNumber"], "+14155550100");
    assert_eq!(vc["ToPhoneNumber"], "+18005550100");
    assert_eq!(vc["CustomerHoldDuration"], 7);
    assert_eq!(vc["NumberOfHolds"], 1);
    assert_eq!(vc["LongestHoldDuration"], 5);
    assert_eq!(vc["QueueName"], "BasicQueue");
    assert_eq!(vc["CallDurationInSeconds"], 300);
    assert_eq!(vc["CallAcceptDateTime"], "2024-01-01T10:00:20.000+0000");
    assert_eq!(vc["CallQueuedDateTime"], "2024-01-01T10:00:10.000+0000");
    assert_eq!(vc["CallDisposition"], "completed");
    assert_eq!(vc["UserInputNum__c"], 10);
    let k3_record = org.emu.record("VoiceCall", &k3).expect("k3");
    assert_eq!(k3_record["CallDisposition"], "in-progress");

    // REST writes: only custom fields, kept as callAttributes.
    let patched =
        rest(&org, "PATCH", &format!("/sobjects/VoiceCall/{k1}"), Some(json!({"Reason__c": "Billing"})), &t).await;
    assert_eq!(patched.status, 204, "{}", patched.body);
    assert_eq!(org.emu.voice_call("k1").expect("k1").call_attributes["Reason__c"], "Billing");
    let refused =
        rest(&org, "PATCH", &format!("/sobjects/VoiceCall/{k1}"), Some(json!({"CustomerHoldDuration": 1})), &t).await;
    assert_error(&refused, 400, "INVALID_FIELD_FOR_INSERT_UPDATE", "CustomerHoldDuration");
    let answer = query(&org, "SELECT VendorCallKey FROM VoiceCall WHERE Reason__c = 'billing'", &t).await;
    assert_eq!(names(&answer, "VendorCallKey"), ["k1"]);

    // Transfers point to their parent.
    let mut transfer = inbound("k5");
    transfer["initiationMethod"] = json!("Transfer");
    transfer["parentVoiceCallId"] = json!("k1");
    let created = org.send("POST", "/telephony/v1/voiceCalls", Some(transfer)).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let answer = query(
        &org,
        "SELECT VendorCallKey, CallType, ParentVoiceCall.VendorCallKey FROM VoiceCall WHERE PreviousCallId != null",
        &t,
    )
    .await;
    assert_eq!(answer.body["records"][0]["CallType"], "Transfer", "{}", answer.body);
    assert_eq!(answer.body["records"][0]["ParentVoiceCall"]["VendorCallKey"], "k1");
}

#[tokio::test]
async fn sosl_search() {
    let org = start().await;
    let t = token(&org).await;
    let account =
        org.emu.insert_record("Account", json!({"Name": "Salesforce", "Phone": "+1 (415) 901-7000"})).expect("a");
    org.emu.insert_record("Contact", json!({"FirstName": "Marc", "LastName": "Benioff", "Email": "marc@salesforce.example", "Phone": "+1 (415) 555-1234", "AccountId": account})).expect("c");
    org.emu
        .insert_record(
            "Contact",
            json!({"FirstName": "Parker", "LastName": "Harris", "Email": "parker@salesforce.example"}),
        )
        .expect("c");
    let search = |sosl: &'static str| {
        let encoded = percent_encoding::utf8_percent_encode(sosl, percent_encoding::NON_ALPHANUMERIC).to_string();
        let org = &org;
        let t = t.clone();
        async move { rest(org, "GET", &format!("/search/?q={encoded}"), None, &t).await }
    };
    let answer = search("Find {Marc} In All Fields Returning Contact(FirstName)").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let records = answer.body["searchRecords"].as_array().expect("searchRecords");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["attributes"]["type"], "Contact");
    assert_eq!(records[0]["FirstName"], "Marc");
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("FIND {4155551234} IN PHONE FIELDS RETURNING Contact(LastName), Account(Name)", vec![("Contact", "Benioff")]),
        (
            "FIND {(415)} IN PHONE FIELDS RETURNING Contact(LastName), Account(Name)",
            vec![("Contact", "Benioff"), ("Account", "Salesforce")],
        ),
        (
            "FIND {salesforce.example} IN EMAIL FIELDS RETURNING Contact(LastName)",
            vec![("Contact", "Benioff"), ("Contact", "Harris")],
        ),
        (
            "FIND {salesforce} IN NAME FIELDS RETURNING Contact(LastName), Account(Name)",
            vec![("Account", "Salesforce")],
        ),
        ("FIND {par*er} RETURNING Contact(LastName)", vec![("Contact", "Harris")]),
        (
            "FIND {salesforce} RETURNING Contact(LastName), Account(Name) LIMIT 2",
            vec![("Contact", "Benioff"), ("Contact", "Harris")],
        ),
        ("FIND {nobody} RETURNING Contact(LastName)", vec![]),
    ];
    for (sosl, expected) in cases {
        let answer = search(sosl).await;
        assert_eq!(answer.status, 200, "{sosl}: {}", answer.body);
        let got: Vec<(String, String)> = answer.body["searchRecords"]
            .as_array()
            .expect("list")
            .iter()
            .map(|r| {
                let kind = r["attributes"]["type"].as_str().unwrap_or_default().to_owned();
                let name = r["LastName"].as_str().or(r["Name"].as_str()).unwrap_or_default().to_owned();
                (kind, name)
            })
            .collect();
        let expected: Vec<(String, String)> = expected.into_iter().map(|(a, b)| (a.to_owned(), b.to_owned())).collect();
        assert_eq!(got, expected, "{sosl}");
    }
    let with_rel = search("FIND {Marc} RETURNING Contact(Name, Account.Name)").await;
    assert_eq!(with_rel.body["searchRecords"][0]["Account"]["Name"], "Salesforce");
    for (sosl, code, text) in [
        ("FIND Marc RETURNING Contact", "MALFORMED_SEARCH", "braces"),
        ("FIND {Marc} RETURNING Contact(FirstName", "MALFORMED_SEARCH", "expecting ')'"),
        ("FIND {M} RETURNING Contact", "MALFORMED_SEARCH", "longer than one character"),
        ("FIND {Marc} RETURNING Widget", "INVALID_TYPE", "Widget"),
        ("FIND {Marc} RETURNING Contact(Bogus)", "INVALID_FIELD", "Bogus"),
    ] {
        assert_error(&search(sosl).await, 400, code, text);
    }
}

#[tokio::test]
async fn faults_apply_to_rest_paths() {
    let org = start().await;
    let t = token(&org).await;
    org.emu.inject(Fault::status(429, 1).with_retry_after(2).on("GET", "/services/data"));
    let limited = query(&org, "SELECT Id FROM Account", &t).await;
    assert_error(&limited, 429, "REQUEST_LIMIT_EXCEEDED", "injected");
    assert_eq!(limited.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    org.emu.inject(Fault::status(403, 1).on("", "/services/data"));
    assert_error(&query(&org, "SELECT Id FROM Account", &t).await, 403, "REQUEST_LIMIT_EXCEEDED", "injected");
    org.emu.inject(Fault::status(401, 1).on("", "/sobjects"));
    let created = rest(&org, "POST", "/sobjects/Account", Some(json!({"Name": "x"})), &t).await;
    assert_error(&created, 401, "INVALID_SESSION_ID", "Session expired");
    assert!(org.emu.records("Account").is_empty(), "a faulted request is not handled");
    org.emu.inject(Fault::status(503, 1).on("POST", "/oauth2/token"));
    let answer = token_for(&org, &claims()).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.body["error"], "temporarily_unavailable");
    org.emu.inject(Fault::drop_connection(1).on("", "/services/data"));
    let dropped =
        org.http.get(format!("{}/query?q=SELECT+Id+FROM+Account", org.emu.rest_base())).bearer_auth(&t).send().await;
    assert!(dropped.is_err(), "the connection is dropped");
    org.emu.inject(Fault::delay(150, 1).on("", "/services/data"));
    let started = std::time::Instant::now();
    assert_eq!(query(&org, "SELECT Id FROM Account", &t).await.status, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    let faulted: Vec<_> = org.emu.requests().into_iter().filter(|r| r.faulted).collect();
    assert_eq!(faulted.len(), 5);
    assert!(faulted.iter().all(|r| r.path.starts_with("/services/")));
}

#[tokio::test]
async fn control_api_for_the_rest_side() {
    let org = start().await;
    let base = org.emu.base_url();
    let http = &org.http;
    let created = http
        .post(format!("{base}/__emulator/records/Account"))
        .json(&json!({"Name": "Seeded"}))
        .send()
        .await
        .expect("seed");
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let bad =
        http.post(format!("{base}/__emulator/records/Account")).json(&json!({"Bogus": 1})).send().await.expect("seed");
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.expect("json")[0]["errorCode"], "INVALID_FIELD");
    let listed: Value =
        http.get(format!("{base}/__emulator/records/account")).send().await.expect("list").json().await.expect("json");
    assert_eq!(listed[0]["Id"], id);
    assert_eq!(listed[0]["attributes"]["type"], "Account");
    let one = http.get(format!("{base}/__emulator/records/Account/{id}")).send().await.expect("one");
    assert_eq!(one.status(), 200);
    let none = http.get(format!("{base}/__emulator/records/Account/001EM00000000ZZ")).send().await.expect("none");
    assert_eq!(none.status(), 404);

    let config = RestConfig {
        usernames: vec!["other@acme.example".into()],
        query_batch_size: 1,
        connected_app_public_keys: vec![org.keys.public_pem.clone()],
        ..RestConfig::default()
    };
    let put = http.put(format!("{base}/__emulator/rest-config")).json(&config).send().await.expect("put");
    assert_eq!(put.status(), 200);
    assert_eq!(org.emu.rest_config().query_batch_size, 1);
    let refused = token_for(&org, &claims()).await;
    assert_eq!(refused.body["error_description"], "user hasn't approved this consumer");
    let answer = token_for(&org, &with(claims(), "sub", json!("other@acme.example"))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let issued: Value =
        http.get(format!("{base}/__emulator/issued-tokens")).send().await.expect("get").json().await.expect("json");
    assert_eq!(issued["issuedTokens"], 1);
    let keys = http
        .put(format!("{base}/__emulator/connected-app-public-keys"))
        .json(&json!({"publicKeys": ["not a pem"]}))
        .send()
        .await
        .expect("put");
    assert_eq!(keys.status(), 400);

    let key = org.create_call("old").await;
    let aged = http
        .put(format!("{base}/__emulator/voice-calls/old/created-date"))
        .json(&json!({"createdDate": "2020-01-01T00:00:00Z"}))
        .send()
        .await
        .expect("age");
    assert_eq!(aged.status(), 200);
    assert_eq!(org.emu.record("VoiceCall", &key).expect("vc")["CreatedDate"], "2020-01-01T00:00:00.000+0000");
    let state = org.emu.state_json();
    assert_eq!(state["rest"]["issuedTokens"], 1);
    assert_eq!(state["records"]["Account"], 1);
    org.emu.reset();
    assert!(org.emu.records("Account").is_empty());
    assert_eq!(org.emu.issued_token_count(), 1, "reset keeps sessions");
}
