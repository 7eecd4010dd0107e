//! The web console's server side: the pages, the change stream, request timing, and the demo data it is
//! shown with. (The pages themselves are driven in a real browser by tests/console/.)

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use sf_emulator::Fault;
use sf_emulator::console::demo;

async fn seeded() -> Org {
    let org = Org::start().await;
    org.emu.set_connected_app_public_keys(vec![org.keys.public_pem.clone()]);
    demo::seed(org.emu.local_addr(), &org.keys, ORG, CC).await.expect("seed the demo");
    org
}

/// Reads the change stream until one whole event arrived; returns its data as JSON.
async fn next_change(response: &mut reqwest::Response, buffer: &mut String) -> Value {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                assert!(event.contains("event: change"), "{event}");
                return serde_json::from_str(data).expect("change data is JSON");
            }
            continue; // a keep-alive comment
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("a change within 5 s")
            .expect("stream read")
            .expect("stream still open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_demo_leaves_what_a_call_through_the_functions_would() {
    let org = seeded().await;
    let calls = org.emu.voice_calls();
    let keys: Vec<_> = calls.iter().map(|c| c.vendor_call_key.as_str()).collect();
    assert_eq!(keys, [demo::INBOUND_KEY, demo::TRANSFER_KEY, demo::VOICEMAIL_KEY]);

    let inbound = &calls[0];
    assert_eq!((inbound.messages.len(), inbound.realtime_events.len()), (6, 4));
    assert!(!inbound.post_call_events.is_empty());
    assert_eq!(inbound.call_disposition, "completed");
    assert_eq!(inbound.routing.execute_count, 1, "the throttled attempt did not route");
    assert_eq!(calls[1].parent_voice_call_id.as_deref(), Some(inbound.id.as_str()));
    assert_eq!(calls[2].call_origin.as_deref(), Some("Voicemail"));
    assert_eq!(calls[2].messages.len(), 1);

    let alerts = org.emu.platform_events("RealtimeAlertEvent");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["Severity"], "Warning");
    assert_eq!(org.emu.records("Case").len(), 1);
    let uploads = org.emu.conversation_uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!((uploads[0].conversation_id.as_str(), uploads[0].entry_ids.len()), (demo::INBOUND_KEY, 6));
    assert_eq!((uploads[0].status.as_str(), uploads[0].status_reads), ("SUCCESS", 2));

    // Every request went through the real API; only the injected throttle failed, and no fault is left.
    let requests = org.emu.requests();
    let failed: Vec<_> = requests.iter().filter(|r| !(200..300).contains(&r.status)).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].faulted && failed[0].status == 429 && failed[0].path.ends_with("/omniFlow"));
    assert!(requests.iter().filter(|r| r.path.starts_with("/telephony/")).all(|r| r.jwt_claims.is_some()));
    assert!(org.emu.state_json()["pendingFaults"]["faults"].as_array().is_some_and(Vec::is_empty));
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_and_stays_out_of_the_request_log() {
    let org = Org::start().await;
    let base = org.emu.base_url();
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let root = no_redirect.get(format!("{base}/")).send().await.expect("GET /");
    assert!(root.status().is_redirection(), "{}", root.status());
    assert_eq!(root.headers()["location"], "/console");

    let page = org.http.get(format!("{base}/console")).send().await.expect("GET /console");
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().expect("type").starts_with("text/html"));
    let html = page.text().await.expect("html");
    assert!(html.contains("/console/console.js") && html.contains("/console/console.css"));
    for (asset, kind) in [("console.js", "text/javascript"), ("console.css", "text/css")] {
        let response = org.http.get(format!("{base}/console/{asset}")).send().await.expect("asset");
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.headers()["content-type"].to_str().expect("type").starts_with(kind), "{asset}");
    }
    let missing = org.http.get(format!("{base}/console/nope.js")).send().await.expect("missing asset");
    assert_eq!(missing.status(), 404);
    let icon = org.http.get(format!("{base}/favicon.ico")).send().await.expect("favicon");
    assert_eq!(icon.status(), 204);
    assert!(org.emu.requests().is_empty(), "console requests are not API requests: {:?}", org.emu.requests());

    let events = org.http.get(format!("{base}/__emulator/platform-events")).send().await.expect("events");
    assert_eq!(events.json::<Value>().await.expect("json"), json!([]));
}

#[tokio::test]
async fn the_change_stream_announces_requests_and_faults_and_ends_with_the_emulator() {
    let org = Org::start().await;
    let mut stream =
        org.http.get(format!("{}/__emulator/changes", org.emu.base_url())).send().await.expect("open the stream");
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let first = next_change(&mut stream, &mut buffer).await;
    assert_eq!(
        (first["requests"].as_u64(), first["voiceCalls"].as_u64(), first["faults"].as_u64()),
        (Some(0), Some(0), Some(0))
    );

    org.create_call("c1").await;
    let mut change = next_change(&mut stream, &mut buffer).await;
    // Both changes may arrive as one event or two.
    while change["voiceCalls"] != 1 {
        change = next_change(&mut stream, &mut buffer).await;
    }
    assert_eq!(change["requests"], 1);

    org.emu.inject(Fault::status(503, 2));
    assert_eq!(next_change(&mut stream, &mut buffer).await["faults"], 2);
    assert_eq!(org.send("POST", "/telephony/v1/voiceCalls", Some(inbound("c2"))).await.status, 503);
    let change = next_change(&mut stream, &mut buffer).await;
    assert_eq!((change["faults"].as_u64(), change["requests"].as_u64()), (Some(1), Some(2)));

    let stopping = Instant::now();
    org.emu.shutdown().await;
    assert!(stopping.elapsed() < Duration::from_secs(3), "an open stream held the shutdown {:?}", stopping.elapsed());
    let end = tokio::time::timeout(Duration::from_secs(2), stream.chunk()).await.expect("the stream ends");
    assert!(!matches!(end, Ok(Some(_))), "no more events after shutdown");
}

#[tokio::test]
async fn each_recorded_request_carries_its_arrival_time_and_latency() {
    let org = Org::start().await;
    let before = chrono::Utc::now().timestamp_millis();
    org.create_call("c1").await;
    org.emu.inject(Fault::delay(150, 1));
    org.create_call("c2").await;
    let after = chrono::Utc::now().timestamp_millis();
    let requests = org.emu.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert!((before..=after).contains(&r.at_ms), "at_ms {} outside {before}..{after}", r.at_ms);
    }
    assert!(requests[0].latency_ms < 150.0, "{}", requests[0].latency_ms);
    assert!(requests[1].latency_ms >= 150.0, "the injected delay counts: {}", requests[1].latency_ms);
    let served: Value = org
        .http
        .get(format!("{}/__emulator/requests", org.emu.base_url()))
        .send()
        .await
        .expect("requests")
        .json()
        .await
        .expect("json");
    assert!(served[1]["latencyMs"].as_f64().is_some_and(|ms| ms >= 150.0));
    assert!(served[0]["atMs"].as_i64().is_some());
    assert!(served[0].get("receivedUs").is_none(), "internal timing is not served");
}
