//! VoiceMailTranscribe's stack: the local stack of its template resource (moto: S3 and Transcribe)
//! with a fresh bucket holding a tagged voicemail recording under a fresh contact id (moto's job
//! names are shared by every test of the process).

use local_stack::kvs::KvsFixture;
use scv_shared::voicemail::recording_key;
use serde_json::{Value, json};
use voicemail_transcribe::Deps;

const FUNCTION: &str = "voicemail-transcribe";

local_stack::function_stack! {
    pub struct Stack {
        pub transcribe: aws_sdk_transcribe::Client,
        pub contact_id: String,
        pub deps: Deps,
    }
}

impl Stack {
    /// A bucket with `voicemail_recordings/<contact>.wav` tagged with `tagging`.
    pub async fn start(tagging: &str) -> Stack {
        let local = local_stack::stack::Stack::builder(FUNCTION).start().await.expect("the local stack");
        let transcribe = aws_sdk_transcribe::Client::new(&local.sdk);
        let id = uuid::Uuid::new_v4().to_string();
        let fixture = KvsFixture::voicemail().expect("fixture");
        let wav =
            scv_shared::wav::encode(scv_shared::wav::PcmFormat::TELEPHONY, &fixture.customer_source_pcm().unwrap())
                .expect("wav");
        local
            .s3
            .put_object()
            .bucket(local.bucket())
            .key(recording_key(&id))
            .content_type("audio/x-wav")
            .tagging(tagging)
            .body(wav.into())
            .send()
            .await
            .expect("recording");
        let deps = Deps::new(local.s3.clone(), transcribe.clone());
        Stack { local, transcribe, contact_id: id, deps }
    }

    /// The sample event, naming this stack's bucket and recording.
    pub fn event(&self) -> Value {
        let mut event = sample("recording-created.json");
        event["detail"]["bucket"]["name"] = json!(self.bucket());
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
    local_stack::stack::load_event(FUNCTION, name).expect("sample event")
}
