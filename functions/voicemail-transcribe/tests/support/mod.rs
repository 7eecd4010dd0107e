//! The stack for VoiceMailTranscribe's end-to-end tests: moto (S3 and Transcribe) with a fresh
//! bucket holding a tagged voicemail recording under a fresh contact id (moto's job names are shared
//! by every test of the process).

#![allow(dead_code)]

use std::path::PathBuf;

use local_stack::kvs::KvsFixture;
use local_stack::moto::{Moto, aws_sdk_config};
use scv_shared::voicemail::recording_key;
use serde_json::{Value, json};
use voicemail_transcribe::Deps;

pub struct Stack {
    pub sdk: scv_shared::aws::SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub transcribe: aws_sdk_transcribe::Client,
    pub bucket: String,
    pub contact_id: String,
    pub deps: Deps,
}

impl Stack {
    /// A bucket with `voicemail_recordings/<contact>.wav` tagged with `tagging`.
    pub async fn start(tagging: &str) -> Stack {
        let moto = Moto::shared().expect("moto server (run `make test`, which installs it)");
        let sdk = aws_sdk_config(&moto.endpoint()).await;
        let s3 = scv_shared::aws::s3_client(&sdk);
        let transcribe = aws_sdk_transcribe::Client::new(&sdk);
        let id = uuid::Uuid::new_v4().to_string();
        let bucket = format!("acme-cc-{}", &id[..8]);
        s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
        let fixture = KvsFixture::voicemail().expect("fixture");
        let wav =
            scv_shared::wav::encode(scv_shared::wav::PcmFormat::TELEPHONY, &fixture.customer_source_pcm().unwrap())
                .expect("wav");
        s3.put_object()
            .bucket(&bucket)
            .key(recording_key(&id))
            .content_type("audio/x-wav")
            .tagging(tagging)
            .body(wav.into())
            .send()
            .await
            .expect("recording");
        let deps = Deps::new(s3.clone(), transcribe.clone());
        Stack { sdk, s3, transcribe, bucket, contact_id: id, deps }
    }

    /// The sample event, naming this stack's bucket and recording.
    pub fn event(&self) -> Value {
        let mut event = sample("recording-created.json");
        event["detail"]["bucket"]["name"] = json!(self.bucket);
        event["detail"]["object"]["key"] = json!(recording_key(&self.contact_id));
        event
    }

    pub async fn job(&self) -> aws_sdk_transcribe::types::TranscriptionJob {
        self.transcribe
            .get_transcription_job()
            .transcription_job_name(&self.contact_id)
            .send()
            .await
            .expect("the job exists")
            .transcription_job()
            .cloned()
            .expect("a job")
    }

    pub async fn jobs_of_this_contact(&self) -> usize {
        let out =
            self.transcribe.list_transcription_jobs().job_name_contains(&self.contact_id).send().await.expect("list");
        out.transcription_job_summaries().len()
    }
}

pub fn sample(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/voicemail-transcribe").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .expect("JSON")
}
