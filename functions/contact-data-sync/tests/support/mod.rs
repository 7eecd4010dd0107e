//! ContactDataSync's stack: the local stack of its template resource (the Salesforce emulator's REST
//! side, moto with the connected app's parameters and the contact center bucket, the local Amazon
//! Connect endpoint for DescribeContact) and its Deps built from that environment.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use contact_data_sync::{CATEGORY, Deps, SyncError};
use local_stack::connect::epoch_seconds;
use local_stack::stack::StackBuilder;
use scv_shared::keys::SsmClient;
use scv_shared::retry::Deadline;
use serde_json::{Value, json};

pub use local_stack::stack::{CONNECT_INSTANCE_ID as INSTANCE, ORG_ID};

const FUNCTION: &str = "contact-data-sync";
/// Where the sample analysis file and contact live (PostCallAnalysisTrigger's fixtures).
const FIXTURES: &str = "post-call-analysis-trigger";
const FIXTURE_KEY: &str =
    "Analysis/Voice/2026/11/21/6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21_analysis_2026-11-21T09:23:14Z.json";
/// The invoked function's ARN (account 123456789012).
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:ACME_CC-ContactDataSyncFunction";
/// The contacts of the sample upload event.
pub const CONTACT_A: &str = "faaa3a21-5990-48cd-a035-e85ca8c861ff";
pub const CONTACT_B: &str = "f15c9342-65a1-41e8-a752-81d630a2890d";
/// Transcript lines of the sample analysis file.
pub const LINES: usize = 19;
/// A customer's words in the sample file (UTF-8: names and accents intact).
pub const CUSTOMER_WORDS: &str = "Hi Priya, this is José Álvarez. I was charged twice for my November invoice.";

local_stack::function_stack! {
    pub struct Stack {
        pub deps: Deps,
    }
}

impl Stack {
    pub async fn start() -> Stack {
        Stack::start_with(|b| b).await
    }

    pub async fn start_with(tweak: impl FnOnce(StackBuilder) -> StackBuilder) -> Stack {
        let builder = local_stack::stack::Stack::builder(FUNCTION).capture_logs(CATEGORY);
        let local = tweak(builder).start().await.expect("the local stack");
        let connect_config =
            aws_sdk_connect::config::Builder::from(&local.sdk).endpoint_url(local.connect().endpoint()).build();
        let deps = Deps::new(
            &local.env(),
            SsmClient::new(&local.sdk),
            local.s3.clone(),
            aws_sdk_connect::Client::from_conf(connect_config),
        )
        .expect("configuration");
        Stack { local, deps }
    }

    /// A call Connect, Salesforce and S3 know: the sample contact under `contact_id`, its closed
    /// VoiceCall, and its analysis file (the sample with the contact id replaced). Returns the
    /// VoiceCall id.
    pub async fn seed_call(&self, contact_id: &str) -> String {
        let id = self.seed_contact_and_call(contact_id);
        self.put_analysis(contact_id, &analysis_for(contact_id)).await;
        id
    }

    /// The contact in Connect and its VoiceCall in Salesforce, no analysis file.
    pub fn seed_contact_and_call(&self, contact_id: &str) -> String {
        let mut contact = sample_contact();
        contact["Id"] = json!(contact_id);
        contact["InitialContactId"] = json!(contact_id);
        let start = contact["InitiationTimestamp"].as_str().expect("start").to_string();
        let end = contact["DisconnectTimestamp"].as_str().expect("end").to_string();
        self.connect().put_contact(INSTANCE, api_shape(contact)).expect("contact seeded");
        self.emulator().seed_voice_call(contact_id, &start, Some(&end)).expect("voice call seeded")
    }

    pub async fn put_analysis(&self, contact_id: &str, body: &Value) {
        self.put_raw_analysis(contact_id, &serde_json::to_vec(body).expect("json")).await;
    }

    pub async fn put_raw_analysis(&self, contact_id: &str, body: &[u8]) {
        self.local.put_object(&analysis_key(contact_id), body.to_vec()).await.expect("analysis stored");
    }

    /// Through the Lambda entry point, as the runtime calls it (a 120 s invocation of [`FUNCTION_ARN`]).
    pub async fn invoke(&self, event: Value) -> Result<Value, SyncError> {
        let mut context = local_stack::stack::context(Duration::from_secs(120));
        context.invoked_function_arn = FUNCTION_ARN.into();
        contact_data_sync::handler(lambda_runtime::LambdaEvent::new(event, context), &self.deps).await
    }

    /// Through [`contact_data_sync::handle`] with an ARN of choice.
    pub async fn handle(&self, event: Value, arn: &str) -> Result<Value, SyncError> {
        contact_data_sync::handle(event, arn, Deadline::after(Duration::from_secs(60)), &self.deps).await
    }

    /// The conversation upload requests Salesforce received, oldest first.
    pub fn uploads(&self) -> Vec<sf_emulator::RecordedRequest> {
        self.emulator().requests_to("POST", "/services/data/v62.0/connect/conversations/upload")
    }

    /// No log line holds key material, a JWT, an access token or the transcript's text.
    pub fn assert_logs_clean(&self) {
        self.local.assert_logs_clean_of(&[&format!("{ORG_ID}!"), CUSTOMER_WORDS]);
    }
}

/// The upload event for `contacts` (contact id, VoiceCall id).
pub fn upload_event(contacts: &[(&str, &str)]) -> Value {
    let payload: Vec<Value> = contacts.iter().map(|(c, v)| json!({"contactId": c, "relatedRecords": [v]})).collect();
    json!({"operation": "uploadTranscript", "payload": payload})
}

pub fn analysis_key(contact_id: &str) -> String {
    format!("Analysis/Voice/2026/11/21/{contact_id}_analysis_2026-11-21T09:23:14Z.json")
}

/// The sample analysis file for another contact.
pub fn analysis_for(contact_id: &str) -> Value {
    let mut file = read_json(local_stack::stack::events_dir(FIXTURES).join("fixtures/s3").join(FIXTURE_KEY));
    file["CustomerMetadata"]["ContactId"] = json!(contact_id);
    file
}

/// The sample contact (DescribeContact's `Contact`, RFC 3339 times).
pub fn sample_contact() -> Value {
    read_json(local_stack::stack::events_dir(FIXTURES).join("fixtures/describe-contact.json"))["Contact"].clone()
}

/// Epoch milliseconds of an RFC 3339 UTC time.
pub fn ms(rfc3339: &str) -> i64 {
    (epoch_seconds(rfc3339).expect("time") * 1000.0).round() as i64
}

/// The Contact as the Connect API answers it: every `…Timestamp` as epoch seconds.
pub fn api_shape(mut contact: Value) -> Value {
    fn walk(value: &mut Value) {
        if let Value::Object(map) = value {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(text) if key.ends_with("Timestamp") => {
                        *v = json!(epoch_seconds(text).unwrap_or_else(|e| panic!("{key}: {e}")));
                    }
                    other => walk(other),
                }
            }
        }
    }
    walk(&mut contact);
    contact
}

fn read_json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn event(name: &str) -> Value {
    local_stack::stack::load_event(FUNCTION, name).expect("sample event")
}

/// The results of an upload answer, by contact id.
pub fn results(answer: &Value) -> Vec<Value> {
    answer["conversationBulkUploadsResults"].as_array().expect("conversationBulkUploadsResults").clone()
}

pub fn result_of<'a>(results: &'a [Value], contact_id: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["conversationIdentifier"] == contact_id)
        .unwrap_or_else(|| panic!("no result for {contact_id}"))
}
