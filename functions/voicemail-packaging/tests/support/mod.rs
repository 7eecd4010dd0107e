//! The stack for VoiceMailPackaging's end-to-end tests: the Salesforce emulator (routing the
//! contact center's number to a voicemail queue), moto (SSM for the key, S3, Transcribe) with a
//! bucket holding a tagged recording and its transcript under a fresh contact id, and the
//! transcription job moto holds for it. moto writes no transcript file, so the test writes the
//! Amazon Transcribe output (tests/fixtures/voicemail/transcribe-output.json) itself.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_transcribe::types::{LanguageCode, Media, MediaFormat};
use scv_shared::keys::SsmClient;
use scv_shared::retry::Deadline;
use scv_shared::voicemail::{packaged_key, recording_key, transcript_key};
use serde_json::{Value, json};
use sf_emulator::{RoutingAnswer, RoutingConfig};
use voicemail_packaging::{CATEGORY, Deps, Output, PackagingError, handle};

const FUNCTION: &str = "voicemail-packaging";
pub const DIALED: &str = "+15555550100";
/// The caller VoiceMailAudioProcessing tagged (`vm_from`).
pub const CALLER: &str = "+15555550123";
pub const INIT: &str = "2024-01-04T19:49:19Z";
pub const END: &str = "2024-01-04T19:50:07Z";
pub const INIT_MS: i64 = 1_704_397_759_000;
pub const END_MS: i64 = 1_704_397_807_000;

local_stack::function_stack! {
    pub struct Stack {
        pub transcribe: aws_sdk_transcribe::Client,
        pub contact_id: String,
        pub deps: Deps,
        pub transcript: String,
    }
}

impl Stack {
    pub async fn start() -> Stack {
        Self::with_transcript(None).await
    }

    /// `transcript` replaces the fixture's text.
    pub async fn with_transcript(transcript: Option<&str>) -> Stack {
        Self::build(transcript, false).await
    }

    /// A stack whose Invoke endpoint runs (for [`Stack::official_deps`]).
    pub async fn with_invoke_endpoint() -> Stack {
        Self::build(None, true).await
    }

    async fn build(transcript: Option<&str>, invoke_endpoint: bool) -> Stack {
        let routing = RoutingConfig::default().dialed_number(DIALED, RoutingAnswer::queue("VoicemailQueue"));
        let local = local_stack::stack::Stack::builder(FUNCTION)
            .capture_logs(CATEGORY)
            .with_parameter("DelayBeforeRoutingVmSec", "0")
            .emulator(move |config| config.routing = routing);
        let local = if invoke_endpoint { local.with_invoke_endpoint() } else { local };
        let local = local.start().await.expect("the local stack");
        let s3 = local.s3.clone();
        let transcribe = aws_sdk_transcribe::Client::new(&local.sdk);
        let contact_id = uuid::Uuid::new_v4().to_string();
        let bucket = local.bucket().to_string();

        // What VoiceMailAudioProcessing and Transcribe left behind.
        let recording = recording_key(&contact_id);
        let tagging = format!(
            "vm_lang=en-US&vm_dialedNumber=%2B15555550100&vm_initTimestamp={}&vm_endTimestamp={}&vm_duration=5\
             &vm_recordingUrl={}%2F{}&vm_from={}",
            INIT.replace(':', "%3A"),
            END.replace(':', "%3A"),
            bucket,
            recording.replace('/', "%2F"),
            CALLER.replace('+', "%2B")
        );
        let wav = scv_shared::wav::encode(scv_shared::wav::PcmFormat::TELEPHONY, &vec![0; 80_000]).unwrap();
        s3.put_object().bucket(&bucket).key(&recording).tagging(tagging).body(wav.into()).send().await.expect("wav");
        let mut output = fixture_transcript();
        output["jobName"] = json!(contact_id);
        if let Some(text) = transcript {
            output["results"]["transcripts"][0]["transcript"] = json!(text);
        }
        let transcript = output["results"]["transcripts"][0]["transcript"].as_str().unwrap().to_string();
        s3.put_object()
            .bucket(&bucket)
            .key(transcript_key(&contact_id))
            .body(output.to_string().into_bytes().into())
            .send()
            .await
            .expect("transcript");
        transcribe
            .start_transcription_job()
            .transcription_job_name(&contact_id)
            .language_code(LanguageCode::EnUs)
            .media_format(MediaFormat::Wav)
            .media(Media::builder().media_file_uri(format!("s3://{bucket}/{recording}")).build())
            .send()
            .await
            .expect("the transcription job");

        let deps = deps_for(&local.env, &local.sdk, s3, transcribe.clone());
        Stack { local, transcribe, contact_id, deps, transcript }
    }

    /// The sample event, naming this stack's bucket and transcript.
    pub fn event(&self) -> Value {
        let mut event = sample("transcript-created.json");
        event["detail"]["bucket"]["name"] = json!(self.bucket());
        event["detail"]["object"]["key"] = json!(transcript_key(&self.contact_id));
        event
    }

    pub async fn run(&self) -> Result<Output, PackagingError> {
        self.run_with(&self.deps).await
    }

    pub async fn run_with(&self, deps: &Deps) -> Result<Output, PackagingError> {
        handle(&self.event(), Deadline::after(Duration::from_secs(60)), deps).await
    }

    pub async fn job_exists(&self) -> bool {
        self.transcribe.get_transcription_job().transcription_job_name(&self.contact_id).send().await.is_ok()
    }

    pub async fn progress(&self) -> Option<Value> {
        let out = self.s3.get_object().bucket(self.bucket()).key(packaged_key(&self.contact_id)).send().await.ok()?;
        serde_json::from_slice(&out.body.collect().await.ok()?.into_bytes()).ok()
    }

    /// (method, path) of every Telephony API request for this contact.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.emulator()
            .requests()
            .into_iter()
            .filter(|r| r.path.contains(&self.contact_id))
            .map(|r| (r.method, r.path.replace(&format!("/telephony/v1/voiceCalls/{}", self.contact_id), "{id}")))
            .collect()
    }

    pub fn assert_logs_clean(&self) {
        self.local.assert_logs_clean_of(&[&self.transcript]);
    }
}

pub fn deps_for(
    env: &BTreeMap<String, String>,
    sdk: &scv_shared::aws::SdkConfig,
    s3: aws_sdk_s3::Client,
    transcribe: aws_sdk_transcribe::Client,
) -> Deps {
    let lookup = |name: &str| env.get(name).cloned();
    Deps::new(&lookup, sdk, s3, transcribe).expect("configuration")
}

/// The InvokeTelephonyIntegrationApi alias ARN an official stack gives VoiceMailPackaging.
pub const ITIA_ARN: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:ACME_CC-InvokeTelephonyIntegrationApi:active";

/// Exactly the environment the official template gives VoiceMailPackaging (lower-case names).
pub fn official_env() -> BTreeMap<String, String> {
    [("invoke_telephony_integration_api_arn", ITIA_ARN), ("delay_before_routing_vm_sec", "0"), ("LOG_LEVEL", "info")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Stack {
    /// Deps with [`official_env`]: the invokes reach this suite's InvokeTelephonyIntegrationApi
    /// in-process (against the emulator) unless `answer` answers first. Needs a stack started
    /// [`Stack::with_invoke_endpoint`].
    pub async fn official_deps(
        &self,
        answer: impl Fn(&Value) -> Option<local_stack::invoke_recorder::Answer> + Send + Sync + 'static,
    ) -> Deps {
        use local_stack::invoke_recorder::Answer;
        let lookup = |name: &str| self.local.env.get(name).cloned();
        let cfg = scv_shared::config::ScrtConfig::from_env(&lookup).expect("the direct settings");
        let itia =
            std::sync::Arc::new(invoke_telephony_integration_api::Deps::new(&cfg, SsmClient::new(&self.sdk), &lookup));
        self.recorder().answer_with(move |invoke| {
            let itia = itia.clone();
            let early = answer(&invoke.payload);
            async move {
                if let Some(early) = early {
                    return early;
                }
                match invoke_telephony_integration_api::handle(
                    invoke.payload,
                    Deadline::after(Duration::from_secs(7)),
                    &itia,
                )
                .await
                {
                    Ok(value) => Answer::Ok(value),
                    Err(e) => Answer::error(e.kind().as_str(), &e.to_string()),
                }
            }
        });
        let sdk = self.sdk_for(self.recorder().endpoint()).await;
        deps_for(&official_env(), &sdk, self.s3.clone(), self.transcribe.clone())
    }
}

pub fn sample(name: &str) -> Value {
    local_stack::stack::load_event(FUNCTION, name).expect("sample event")
}

pub fn fixture_transcript() -> Value {
    let path = local_stack::workspace_root().join("tests/fixtures/voicemail/transcribe-output.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON")
}
