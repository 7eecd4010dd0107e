//! Fault injection, inspection and the `/__emulator` control API over HTTP.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use sf_emulator::Fault;
use sf_emulator::keys::TestKeyPair;

#[tokio::test]
async fn injected_statuses_with_retry_after_run_out() {
    let org = Org::start().await;
    org.emu.inject(Fault::status(429, 2).with_retry_after(7).on("POST", "/voiceCalls"));
    for _ in 0..2 {
        let answer = org.send("POST", "/telephony/v1/voiceCalls", Some(inbound("c1"))).await;
        assert_error(&answer, 429, "REQUEST_LIMIT_EXCEEDED", "");
        assert_eq!(answer.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
    }
    assert!(org.emu.voice_calls().is_empty(), "faulted requests are not handled");
    assert_eq!(org.send("POST", "/telephony/v1/voiceCalls", Some(inbound("c1"))).await.status, 200, "count exhausted");

    org.emu.inject(Fault::status(500, 1).on("patch", "omniFlow"));
    org.emu.inject(Fault::status(503, 1));
    assert_error(
        &org.send("PATCH", "/telephony/v1/voiceCalls/c1/omniFlow", Some(json!({"dialedNumber": "+1"}))).await,
        500,
        "SERVER_ERROR",
        "",
    );
    let answer = org.send("PATCH", "/telephony/v1/voiceCalls/c1", Some(json!({}))).await;
    assert_error(&answer, 503, "SERVICE_UNAVAILABLE", "");
    assert!(answer.headers.get("retry-after").is_none());
    assert_eq!(org.send("PATCH", "/telephony/v1/voiceCalls/c1", Some(json!({}))).await.status, 200);

    let statuses: Vec<(u16, bool)> = org.emu.requests().iter().map(|r| (r.status, r.faulted)).collect();
    assert_eq!(statuses, [(429, true), (429, true), (200, false), (500, true), (503, true), (200, false)]);

    org.emu.inject(Fault::status(500, 5));
    org.emu.clear_faults();
    assert_eq!(org.send("PATCH", "/telephony/v1/voiceCalls/c1", Some(json!({}))).await.status, 200);
}

#[tokio::test]
async fn delays_and_dropped_connections() {
    let org = Org::start().await;
    org.emu.inject(Fault::delay(400, 1));
    let started = Instant::now();
    let answer = org.send("POST", "/telephony/v1/voiceCalls", Some(inbound("c1"))).await;
    assert_eq!(answer.status, 200, "a delay alone still handles the request");
    assert!(started.elapsed() >= Duration::from_millis(400));

    org.emu.inject(Fault::drop_connection(1).on("POST", "/messages"));
    let token = org.token();
    let result = org
        .try_send(
            "POST",
            "/telephony/v1/voiceCalls/c1/messages",
            Some(message("m1", "END_USER", "x", START_MS + 10)),
            Some(&token),
        )
        .await;
    let err = result.err().expect("a transport error, not an HTTP answer");
    assert!(!err.is_status(), "{err}");
    assert!(org.emu.voice_call("c1").expect("call").messages.is_empty());
    let dropped = org.emu.requests_to("POST", "/telephony/v1/voiceCalls/c1/messages");
    assert_eq!((dropped.len(), dropped[0].status, dropped[0].faulted), (1, 0, true));

    // The server keeps serving new connections afterwards.
    let answer = org
        .send("POST", "/telephony/v1/voiceCalls/c1/messages", Some(message("m1", "END_USER", "x", START_MS + 10)))
        .await;
    assert_eq!(answer.status, 202);

    // Status + delay combined.
    org.emu.inject(Fault::status(503, 1).with_delay(200));
    let started = Instant::now();
    assert_eq!(org.send("PATCH", "/telephony/v1/voiceCalls/c1", Some(json!({}))).await.status, 503);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn recorded_requests_keep_claims_never_tokens() {
    let org = Org::start().await;
    let token = org.token();
    let answer = org.send_with("POST", "/telephony/v1/voiceCalls", Some(inbound("c1")), Some(&token)).await;
    assert_eq!(answer.status, 200);
    // A refused token is not kept either.
    let other = TestKeyPair::generate().expect("keygen").scrt_token(ORG, CC, 60).expect("sign");
    assert_eq!(
        org.send_with("PATCH", "/telephony/v1/voiceCalls/c1?x=1", Some(json!({})), Some(&other)).await.status,
        401
    );

    let requests = org.emu.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(
        (first.seq, first.method.as_str(), first.path.as_str(), first.status),
        (1, "POST", "/telephony/v1/voiceCalls", 200)
    );
    assert_eq!(first.telephony_provider_name.as_deref(), Some("amazon-connect"));
    assert_eq!(first.content_type.as_deref(), Some("application/json"));
    let claims = first.jwt_claims.clone().expect("claims");
    assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some(ORG), Some(CC)));
    assert_eq!(first.body["vendorCallKey"], "c1");
    assert_eq!(first.response["voiceCallId"], answer.body["voiceCallId"]);
    assert_eq!(requests[1].query.as_deref(), Some("x=1"));

    let base = org.emu.base_url();
    let listed =
        org.http.get(format!("{base}/__emulator/requests")).send().await.expect("requests").text().await.expect("text");
    let state =
        org.http.get(format!("{base}/__emulator/state")).send().await.expect("state").text().await.expect("text");
    for (name, text) in [("requests", &listed), ("state", &state), ("state_json", &org.emu.state_json().to_string())] {
        for raw in [&token, &other] {
            assert!(!text.contains(raw.as_str()), "{name} contains a raw token");
            let signature = raw.rsplit('.').next().unwrap_or_default();
            assert!(!text.contains(signature), "{name} contains a token signature");
        }
    }
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed[0]["jwtClaims"]["aud"], "https://scrt.salesforce.com");
    let state: Value = serde_json::from_str(&state).expect("json");
    assert_eq!(state["voiceCalls"][0]["vendorCallKey"], "c1");
    assert_eq!(state["orgId"], ORG);
}

#[tokio::test]
async fn control_api_over_http() {
    let org = Org::start().await;
    let base = org.emu.base_url();
    let http = &org.http;
    let health: Value =
        http.get(format!("{base}/__emulator/health")).send().await.expect("health").json().await.expect("json");
    assert_eq!(health, json!({"status": "ok"}));

    // Faults as JSON.
    let fault =
        json!({"method": "POST", "pathContains": "/voiceCalls", "count": 1, "status": 429, "retryAfterSecs": 2});
    assert_eq!(
        http.post(format!("{base}/__emulator/faults")).json(&fault).send().await.expect("fault").status().as_u16(),
        200
    );
    let answer = org.send("POST", "/telephony/v1/voiceCalls", Some(inbound("c1"))).await;
    assert_eq!((answer.status, answer.headers.get("retry-after").and_then(|v| v.to_str().ok())), (429, Some("2")));
    let bad = http.post(format!("{base}/__emulator/faults")).body("{\"count\":\"x\"}").send().await.expect("bad fault");
    assert_eq!(bad.status().as_u16(), 400);
    http.post(format!("{base}/__emulator/faults"))
        .json(&json!({"count": 3, "status": 500}))
        .send()
        .await
        .expect("fault");
    http.delete(format!("{base}/__emulator/faults")).send().await.expect("clear");
    assert_eq!(org.send("POST", "/telephony/v1/voiceCalls", Some(inbound("c1"))).await.status, 200);

    // Bulk entry faults as JSON.
    http.post(format!("{base}/__emulator/bulk-entry-faults"))
        .json(&json!({"vendorCallKey": "c1", "count": 1}))
        .send()
        .await
        .expect("bulk fault");
    let bulk =
        json!({"entries": [{"vendorCallKey": "c1", "messages": [message("m1", "END_USER", "END_USER", START_MS)]}]});
    assert_eq!(org.send("POST", "/telephony/v1/voiceCalls/messages", Some(bulk)).await.status, 207);

    // Routing.
    let routing = json!({"byDialedNumber": {"+1800": {"queue": "Q1"}}, "byFlow": {}});
    assert_eq!(
        http.put(format!("{base}/__emulator/routing")).json(&routing).send().await.expect("routing").status().as_u16(),
        200
    );
    let answer =
        org.send("PATCH", "/telephony/v1/voiceCalls/c1/omniFlow", Some(json!({"dialedNumber": "+1800"}))).await;
    assert_eq!(answer.body, json!({"queue": "Q1"}));

    // Key rotation.
    let next = TestKeyPair::generate().expect("keygen");
    let put = http
        .put(format!("{base}/__emulator/scrt-public-keys"))
        .json(&json!({"publicKeys": [next.public_pem]}))
        .send()
        .await
        .expect("keys");
    assert_eq!(put.status().as_u16(), 200);
    assert_eq!(org.send("PATCH", "/telephony/v1/voiceCalls/c1", Some(json!({}))).await.status, 401);
    let token = next.scrt_token(ORG, CC, 60).expect("sign");
    assert_eq!(org.send_with("PATCH", "/telephony/v1/voiceCalls/c1", Some(json!({})), Some(&token)).await.status, 200);
    let junk = http
        .put(format!("{base}/__emulator/scrt-public-keys"))
        .json(&json!({"publicKeys": ["junk"]}))
        .send()
        .await
        .expect("junk");
    assert_eq!(junk.status().as_u16(), 400);

    // Reset clears org data, requests, faults and jtis; keeps keys and routing.
    org.emu.inject(Fault::status(500, 1));
    assert_eq!(http.post(format!("{base}/__emulator/reset")).send().await.expect("reset").status().as_u16(), 200);
    assert!(org.emu.voice_calls().is_empty() && org.emu.requests().is_empty());
    assert_eq!(
        org.send_with("PATCH", "/telephony/v1/voiceCalls/c1", Some(json!({})), Some(&token)).await.status,
        200,
        "jti forgotten, key kept, fault gone"
    );
    let state = org.emu.state_json();
    assert_eq!(state["routing"]["byDialedNumber"]["+1800"]["queue"], "Q1");
    assert_eq!(state["scrtPublicKeys"], 1);
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let org = Org::start().await;
    let base = org.emu.base_url();
    org.emu.shutdown().await;
    let result = reqwest::Client::new().get(format!("{base}/__emulator/health")).send().await;
    assert!(result.is_err());
}
