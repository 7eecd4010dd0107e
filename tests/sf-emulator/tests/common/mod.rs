//! Helpers shared by the integration tests: an emulator with a registered key pair and an HTTP client.
#![allow(dead_code)]

use serde_json::{Value, json};
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, EmulatorConfig};

pub const ORG: &str = "00DXX0000000001";
pub const CC: &str = "HVCC";
/// 2024-01-01T10:00:00Z in epoch ms: start of the calls created by `create_call`.
pub const START_MS: i64 = 1_704_103_200_000;

pub struct Org {
    pub emu: Emulator,
    pub keys: TestKeyPair,
    pub http: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Org {
    pub async fn start() -> Org {
        let keys = TestKeyPair::generate().expect("keygen");
        let emu = Emulator::start(EmulatorConfig::new(ORG, CC).with_public_key(keys.public_pem.clone()))
            .await
            .expect("start emulator");
        Org { emu, keys, http: reqwest::Client::new() }
    }

    /// A fresh, valid token (new jti each time).
    pub fn token(&self) -> String {
        self.keys.scrt_token(ORG, CC, 120).expect("token")
    }

    /// Sends with a fresh valid token and the Telephony-Provider-Name header.
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let token = self.token();
        self.send_with(method, path, body, Some(&token)).await
    }

    pub async fn send_with(&self, method: &str, path: &str, body: Option<Value>, token: Option<&str>) -> Answer {
        self.try_send(method, path, body, token).await.expect("transport")
    }

    pub async fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> reqwest::Result<Answer> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.emu.base_url()))
            .header("Telephony-Provider-Name", "amazon-connect");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Ok(Answer { status, body, headers })
    }

    /// Creates an inbound call starting at START_MS; returns its 0LQ id.
    pub async fn create_call(&self, key: &str) -> String {
        let answer = self.send("POST", "/telephony/v1/voiceCalls", Some(inbound(key))).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["voiceCallId"].as_str().expect("voiceCallId").to_owned()
    }
}

pub fn inbound(key: &str) -> Value {
    json!({
        "callCenterApiName": CC, "vendorCallKey": key, "to": "+18005550100", "from": "+14155550100",
        "initiationMethod": "Inbound", "startTime": "2024-01-01T10:00:00.000Z", "callSubtype": "PSTN",
        "participants": [{"participantKey": "+14155550100", "type": "END_USER"}],
        "callAttributes": "{\"sf_realtime_transcription_status\":\"passed\",\"UserInputNum__c\":10}"
    })
}

pub fn message(id: &str, sender: &str, participant: &str, start: i64) -> Value {
    json!({"participantId": participant, "messageId": id, "startTime": start, "endTime": start + 500, "content": "hello", "senderType": sender})
}

/// Asserts a Salesforce error array with this status and code whose message contains `text`.
pub fn assert_error(answer: &Answer, status: u16, code: &str, text: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body[0]["errorCode"], code, "{}", answer.body);
    let message = answer.body[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(text), "message {message:?} should contain {text:?}");
}
