//! Demo data for the console: a call's life as the functions leave it, sent through the emulator's real
//! HTTP API with tokens signed by a [`TestKeyPair`] the emulator accepts (as the Telephony API key and as
//! the connected app certificate). `sf-emulator --seed-demo` runs it at start-up; the browser test relies
//! on it.
//!
//! The story: an inbound call (`demo-contact-1`) routed by an Omni-Channel flow, transcribed with
//! real-time signals, a first routing attempt throttled (an injected 429 the "function" retries), then
//! transferred (`demo-contact-2`, a child call); the CTR sync closes it, Contact Lens post-call sentiment
//! arrives, its conversation is uploaded through the Connect API and a RealtimeAlertEvent and a Case
//! are created over REST; a voicemail (`demo-voicemail-1`) arrives with its transcript.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{DEFAULT_CONSUMER_KEY, DEFAULT_USERNAME};
use crate::keys::TestKeyPair;

/// Vendor call keys of the demo calls.
pub const INBOUND_KEY: &str = "demo-contact-1";
pub const TRANSFER_KEY: &str = "demo-contact-2";
pub const VOICEMAIL_KEY: &str = "demo-voicemail-1";

const BOUNDARY: &str = "----sf-emulator-demo-boundary";

/// One answer of the emulator.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// A small HTTP/1.1 client for the emulator (one connection per request): the library keeps no HTTP
/// client dependency.
pub struct DemoClient {
    addr: SocketAddr,
    keys: TestKeyPair,
    org_id: String,
    call_center_api_name: String,
}

impl DemoClient {
    pub fn new(addr: SocketAddr, keys: TestKeyPair, org_id: &str, call_center_api_name: &str) -> DemoClient {
        DemoClient { addr, keys, org_id: org_id.to_owned(), call_center_api_name: call_center_api_name.to_owned() }
    }

    /// Sends one request and reads the whole answer.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<Answer> {
        let mut stream =
            tokio::net::TcpStream::connect(self.addr).await.with_context(|| format!("connecting to {}", self.addr))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.context("writing the request")?;
        stream.write_all(body).await.context("writing the body")?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.context("reading the answer")?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").with_context(|| format!("{method} {path}: no HTTP answer"))?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .with_context(|| format!("{method} {path}: no status line"))?;
        let body = if body.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
        };
        Ok(Answer { status, body })
    }

    /// A Telephony Integration API call with a fresh SCRT token.
    pub async fn telephony(&self, method: &str, path: &str, body: &Value) -> anyhow::Result<Answer> {
        let token = self.keys.scrt_token(&self.org_id, &self.call_center_api_name, 120)?;
        let authorization = format!("Bearer {token}");
        let headers = [
            ("Authorization", authorization.as_str()),
            ("Content-Type", "application/json"),
            ("Telephony-Provider-Name", "amazon-connect"),
        ];
        self.send(method, &format!("/telephony/v1{path}"), &headers, body.to_string().as_bytes()).await
    }

    /// An access token from the OAuth 2.0 JWT bearer flow.
    pub async fn access_token(&self) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": DEFAULT_CONSUMER_KEY, "sub": DEFAULT_USERNAME, "aud": "https://login.salesforce.com",
            "iat": now, "exp": now + 180, "jti": uuid::Uuid::new_v4().to_string(),
        });
        let assertion = self.keys.sign(&claims)?;
        let form = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}");
        let headers = [("Content-Type", "application/x-www-form-urlencoded")];
        let answer = self.send("POST", "/services/oauth2/token", &headers, form.as_bytes()).await?;
        match answer.body["access_token"].as_str() {
            Some(token) if answer.status == 200 => Ok(token.to_owned()),
            _ => bail!("token endpoint answered {}: {}", answer.status, answer.body),
        }
    }

    /// A REST call with an access token.
    pub async fn rest(
        &self,
        token: &str,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> anyhow::Result<Answer> {
        let authorization = format!("Bearer {token}");
        let headers =
            [("Authorization", authorization.as_str()), ("Content-Type", content_type), ("Accept", "application/json")];
        self.send(method, &format!("/services/data/v62.0{path}"), &headers, body).await
    }
}

fn expect(answer: &Answer, wanted: u16, what: &str) -> anyhow::Result<()> {
    if answer.status != wanted {
        bail!("{what}: expected {wanted}, got {} {}", answer.status, answer.body);
    }
    Ok(())
}

fn iso(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Fills the emulator at `addr` with the demo story (see the module documentation). The emulator must
/// accept `keys` as an SCRT key and as the connected app's certificate.
pub async fn seed(
    addr: SocketAddr,
    keys: &TestKeyPair,
    org_id: &str,
    call_center_api_name: &str,
) -> anyhow::Result<()> {
    let client = DemoClient::new(addr, keys.clone(), org_id, call_center_api_name);
    let cc = call_center_api_name;
    // The call started a few minutes ago, so its times read naturally in the console.
    let start = chrono::Utc::now().timestamp_millis() - 6 * 60_000;

    let create = json!({
        "callCenterApiName": cc, "vendorCallKey": INBOUND_KEY, "to": "+18005550100", "from": "+14155550123",
        "initiationMethod": "Inbound", "startTime": iso(start), "callSubtype": "PSTN",
        "participants": [{"participantKey": "+14155550123", "type": "END_USER"}],
        "callAttributes": "{\"sf_realtime_transcription_status\":\"passed\",\"Language__c\":\"en-US\"}"
    });
    expect(&client.telephony("POST", "/voiceCalls", &create).await?, 200, "create the inbound call")?;

    // The first routing attempt is throttled (as a busy org does); the retry goes through.
    client
        .send(
            "POST",
            "/__emulator/faults",
            &[("Content-Type", "application/json")],
            br#"{"count":1,"status":429,"retryAfterSecs":1,"method":"PATCH","pathContains":"omniFlow"}"#,
        )
        .await?;
    let flow = json!({"dialedNumber": "+18005550100", "flowDevName": "Route_Voice_Call", "fallbackQueue": "Support", "flowInputParameters": {}});
    let path = format!("/voiceCalls/{INBOUND_KEY}/omniFlow");
    expect(&client.telephony("PATCH", &path, &flow).await?, 429, "the throttled routing")?;
    expect(&client.telephony("PATCH", &path, &flow).await?, 200, "route the call")?;

    let lines = [
        ("HUMAN_AGENT", "Thank you for calling Acme, this is Dana. How can I help you today?"),
        ("END_USER", "Hi, I bought a blender last week and it stopped working."),
        ("HUMAN_AGENT", "I'm sorry to hear that. Can you give me the order number?"),
        ("END_USER", "It's 10-4471. Honestly I'm pretty frustrated, it's the second one."),
        ("HUMAN_AGENT", "I understand. I can send a replacement today with free express shipping."),
        ("END_USER", "That would be great, thank you so much."),
    ];
    let mut at = start + 2_000;
    for (i, (sender, text)) in lines.iter().enumerate() {
        let participant = if *sender == "HUMAN_AGENT" { "005EM0000000001" } else { "END_USER" };
        let message = json!({"participantId": participant, "messageId": format!("m{}", i + 1), "startTime": at,
            "endTime": at + 4_000, "content": text, "senderType": sender});
        expect(
            &client.telephony("POST", &format!("/voiceCalls/{INBOUND_KEY}/messages"), &message).await?,
            202,
            "a transcript message",
        )?;
        at += 9_000;
    }
    let signals = json!({"service": "AmazonConnectContactLens", "persist": false, "events": [
        {"type": "IntelligenceSignal__Category", "value": "ProductDefect", "startTime": start + 11_000},
        {"type": "IntelligenceSignal__Sentiment", "value": "-1.8", "startTime": start + 29_000, "participant": "CUSTOMER"},
        {"type": "IntelligenceSignal__Category", "value": "Replacement", "startTime": start + 38_000},
        {"type": "IntelligenceSignal__Sentiment", "value": "2.6", "startTime": start + 47_000, "participant": "CUSTOMER"}
    ]});
    expect(
        &client.telephony("POST", &format!("/voiceCalls/{INBOUND_KEY}/realtimeConversationEvents"), &signals).await?,
        202,
        "real-time signals",
    )?;

    // Transferred to a second agent: a child call.
    let transfer = json!({
        "callCenterApiName": cc, "vendorCallKey": TRANSFER_KEY, "to": "+18005550101", "from": "+14155550123",
        "initiationMethod": "Transfer", "parentVoiceCallId": INBOUND_KEY, "queue": "arn:aws:connect:us-east-1:111122223333:instance/demo/queue/returns",
        "startTime": iso(start + 60_000), "callSubtype": "PSTN",
        "participants": [{"participantKey": "+14155550123", "type": "END_USER"}]
    });
    expect(&client.telephony("POST", "/voiceCalls", &transfer).await?, 200, "create the transfer")?;

    // CTR sync closes the first call.
    let end = start + 58_000;
    let ctr = json!({
        "callCenterApiName": cc, "startTime": iso(start), "endTime": iso(end), "acceptTime": iso(start + 1_500),
        "enqueueTime": iso(start + 500), "queue": "Support", "totalHoldDuration": 0, "longestHoldDuration": 0,
        "numberOfHolds": 0, "agentInteractionDuration": 56, "initiationMethod": "INBOUND",
        "toNumber": "+18005550100", "fromNumber": "+14155550123", "callSubType": "PSTN",
        "disconnectReason": {"value": "AGENT_DISCONNECT", "isError": false},
        "recordingLocation": "demo-recordings/connect/demo/CallRecordings/demo-contact-1.wav"
    });
    expect(&client.telephony("PATCH", &format!("/voiceCalls/{INBOUND_KEY}"), &ctr).await?, 200, "CTR sync")?;

    // Sorted by startTime, as the API requires.
    let post_call = json!({"service": "AmazonConnectContactLens", "events": [
        {"type": "IntelligenceSignal__OverallSentimentScore", "value": "1.4", "startTime": start, "endTime": end, "participant": "CUSTOMER"},
        {"type": "IntelligenceSignal__Sentiment", "value": "1.5", "startTime": start, "endTime": start + 29_000, "participant": "AGENT"},
        {"type": "IntelligenceSignal__Sentiment", "value": "-0.5", "startTime": start, "endTime": start + 14_500, "participant": "CUSTOMER"},
        {"type": "IntelligenceSignal__Sentiment", "value": "-3.1", "startTime": start + 14_500, "endTime": start + 29_000, "participant": "CUSTOMER"},
        {"type": "IntelligenceSignal__Sentiment", "value": "1.2", "startTime": start + 29_000, "endTime": start + 43_500, "participant": "CUSTOMER"},
        {"type": "IntelligenceSignal__Sentiment", "value": "2.4", "startTime": start + 29_000, "endTime": end, "participant": "AGENT"},
        {"type": "IntelligenceSignal__Sentiment", "value": "3.8", "startTime": start + 43_500, "endTime": end, "participant": "CUSTOMER"}
    ]});
    expect(
        &client.telephony("POST", &format!("/voiceCalls/{INBOUND_KEY}/postConversationEvents"), &post_call).await?,
        202,
        "post-call sentiment",
    )?;

    // A voicemail: created by an update, its transcript as one END_USER message, routed, completed.
    let vm_start = start + 120_000;
    let vm = json!({"callCenterApiName": cc, "recordingLocation": "demo-voicemail/connect/demo-voicemail-1.wav",
        "totalRecordingDuration": 14, "startTime": iso(vm_start), "endTime": iso(vm_start + 14_000),
        "callOrigin": "Voicemail", "isActiveCall": true, "fromNumber": "+14155550177", "toNumber": "+18005550100"});
    let vm_path = format!("/voiceCalls/{VOICEMAIL_KEY}");
    expect(&client.telephony("PATCH", &vm_path, &vm).await?, 200, "create the voicemail")?;
    let vm_text = json!({"participantId": "END_USER", "messageId": "vm-1", "startTime": vm_start + 1_000,
        "endTime": vm_start + 13_000, "content": "Hi, this is Sam calling about my warranty claim <ref #88>. Please call me back.",
        "senderType": "END_USER"});
    expect(&client.telephony("POST", &format!("{vm_path}/messages"), &vm_text).await?, 202, "voicemail transcript")?;
    let vm_flow = json!({"dialedNumber": "+18005550100", "flowDevName": "Route_Voicemail", "fallbackQueue": "Voicemail", "flowInputParameters": {}});
    expect(&client.telephony("PATCH", &format!("{vm_path}/omniFlow"), &vm_flow).await?, 200, "route the voicemail")?;
    let vm_done = json!({"callCenterApiName": cc, "isActiveCall": false});
    expect(&client.telephony("PATCH", &vm_path, &vm_done).await?, 200, "complete the voicemail")?;

    // REST: a real-time alert, a Case, and the closed call's conversation uploaded.
    let token = client.access_token().await?;
    let alert = json!({"Name": "Negative sentiment", "Severity": "Warning", "Source": "ContactLens",
        "Description": "Customer sentiment dropped below -1.5", "EventDateTime": iso(start + 29_000),
        "Payload": json!({"contactId": INBOUND_KEY, "score": -1.8}).to_string()});
    let answer = client
        .rest(&token, "POST", "/sobjects/RealtimeAlertEvent", "application/json", alert.to_string().as_bytes())
        .await?;
    expect(&answer, 201, "publish a RealtimeAlertEvent")?;
    let case =
        json!({"Subject": "Blender replacement 10-4471", "Origin": "Phone", "Status": "New", "Priority": "High"});
    let answer = client.rest(&token, "POST", "/sobjects/Case", "application/json", case.to_string().as_bytes()).await?;
    expect(&answer, 201, "create a Case")?;

    let voice_call_id = client.send("GET", "/__emulator/state", &[], b"").await?.body["voiceCalls"]
        .as_array()
        .and_then(|calls| calls.iter().find(|c| c["vendorCallKey"] == INBOUND_KEY))
        .and_then(|c| c["id"].as_str().map(str::to_owned))
        .context("the inbound call is not in the state")?;
    let mut ndjson = vec![json!({"type": "conversation", "payload": {"conversationId": INBOUND_KEY}}).to_string()];
    let mut at = start + 2_000;
    for (i, (sender, text)) in lines.iter().enumerate() {
        let (subject, role) = if *sender == "HUMAN_AGENT" {
            (format!("{INBOUND_KEY}VIRTUAL_AGENT"), "AGENT")
        } else {
            (format!("{INBOUND_KEY}END_USER"), "END_USER")
        };
        ndjson.push(
            json!({"type": "conversationEntry", "payload": {
                "conversationId": INBOUND_KEY, "id": format!("u{}", i + 1), "clientSentTimestamp": at, "clientDuration": 4000,
                "messageText": text, "sender": {"appType": "TELEPHONY_INTEGRATION", "subject": subject, "role": role},
                "relatedRecords": [voice_call_id],
            }})
            .to_string(),
        );
        at += 9_000;
    }
    let body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{INBOUND_KEY}\"; filename=\"transcripts.txt\"\r\nContent-Type: text/plain\r\n\r\n{}\r\n--{BOUNDARY}--\r\n",
        ndjson.join("\n")
    );
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let answer = client.rest(&token, "POST", "/connect/conversations/upload", &content_type, body.as_bytes()).await?;
    if !(200..300).contains(&answer.status) {
        bail!("conversation upload: {} {}", answer.status, answer.body);
    }
    // The uploader polls the status: PENDING on the first read, the outcome from the second on.
    let ids: Vec<&str> = answer.body["conversationBulkUploadsResults"]
        .as_array()
        .map(|results| results.iter().filter_map(|r| r["uploadId"].as_str()).collect())
        .unwrap_or_default();
    let status_path = format!("/connect/conversations/upload?uploadId={}", ids.join(","));
    for _ in 0..2 {
        expect(
            &client.rest(&token, "GET", &status_path, "application/json", b"").await?,
            200,
            "read the upload status",
        )?;
    }
    Ok(())
}
