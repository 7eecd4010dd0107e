//! The transcriber's stack: the Salesforce emulator, the local Kinesis Video endpoint serving the live
//! call fixture, the local Transcribe streaming endpoint playing each track's known text, the local
//! Connect endpoint and the Invoke recorder; its `Deps` reach each of them through the real SDK clients.

use std::time::Duration;

use kvs_transcriber::{CATEGORY, Deps, Invocation};
use local_stack::kvs::KvsFixture;
use local_stack::transcribe_streaming::{Script, Utterance};
use scv_shared::config::ScrtConfig;
use scv_shared::retry::Deadline;
use serde_json::Value;

pub const CONTACT: &str = "6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21";
pub const CUSTOMER: &str = "AUDIO_FROM_CUSTOMER";
pub const AGENT: &str = "AUDIO_TO_CUSTOMER";

local_stack::function_stack! {
    pub struct Stack {
        pub deps: Deps,
        pub fixture: KvsFixture,
    }
}

/// The track and the audio offset (ms) a session id names (see `kvs_transcriber::session_id`).
pub fn session_track_and_offset(session_id: &str) -> Option<(&'static str, f64)> {
    let groups: Vec<&str> = session_id.split('-').collect();
    let track = match *groups.get(2)? {
        "0001" => CUSTOMER,
        "0002" => AGENT,
        _ => return None,
    };
    let offset = u64::from_str_radix(groups.get(4)?, 16).ok()?;
    Some((track, offset as f64 / 1000.0))
}

/// `track`'s known text as heard by a session starting `offset` seconds into the call: earlier
/// utterances are gone, the one running at `offset` is cut there.
pub fn script_from(fixture: &KvsFixture, track: &str, offset: f64) -> Script {
    let utterances = fixture.script[track]
        .iter()
        .filter(|line| line.end > offset)
        .map(|line| Utterance::new(line.text.clone(), (line.start - offset).max(0.0), line.end - offset))
        .collect();
    Script::new(utterances)
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(KvsFixture::live_call().expect("the live call fixture")).await
    }

    pub async fn start_with(fixture: KvsFixture) -> Stack {
        let local = local_stack::stack::Stack::builder("kvs-transcriber")
            .kvs_fixtures(vec![fixture.clone()])
            .capture_logs(CATEGORY)
            .start()
            .await
            .expect("the local stack");
        let cfg = ScrtConfig::from_env(&local.env()).expect("configuration");
        let transcribe = local.transcribe().sdk_config().expect("Transcribe streaming client");
        let mut deps = Deps::new(&cfg, &local.env(), &local.sdk, transcribe).expect("configuration");
        let kvs = local.sdk_for(&local.kvs().endpoint()).await;
        deps.kvs = aws_sdk_kinesisvideo::Client::new(&kvs);
        deps.media = kvs_transcriber::media_config(&kvs);
        deps.connect = aws_sdk_connect::Client::new(&local.sdk_for(local.connect().endpoint()).await);
        deps.lambda = aws_sdk_lambda::Client::new(&local.sdk_for(local.recorder().endpoint()).await);
        deps.settings.stall_timeout = Duration::from_secs(2);
        let script_fixture = fixture.clone();
        local.transcribe().set_script_selector(move |session| {
            let (track, offset) = session_track_and_offset(&session.session_id)?;
            Some(script_from(&script_fixture, track, offset))
        });
        let request = local_stack::stack::inbound_call(CONTACT, "2026-11-21T09:15:02.481Z");
        deps.telephony.create_voice_call(&request, Deadline::after(Duration::from_secs(5))).await.expect("VoiceCall");
        Stack { local, deps, fixture }
    }

    /// An invocation that may run for a minute (the calls here last seconds).
    pub fn invocation(&self) -> Invocation {
        self.invocation_until(Duration::from_secs(60))
    }

    pub fn invocation_until(&self, budget: Duration) -> Invocation {
        Invocation {
            continue_at: Deadline::after(budget),
            function: Some("arn:aws:lambda:us-east-1:123456789012:function:ACME_CC-kvsTranscriber:active".into()),
        }
    }

    /// The messages stored on the call whose sender is `sender_type`, in arrival order.
    pub fn messages(&self, sender_type: &str) -> Vec<sf_emulator::state::Message> {
        self.emulator()
            .voice_call(CONTACT)
            .map(|c| c.messages.into_iter().filter(|m| m.sender_type == sender_type).collect())
            .unwrap_or_default()
    }

    /// What the messages of `track` must be: its known text, times from the audio start timestamp.
    pub fn expected(&self, track: &str) -> Vec<(String, i64, i64)> {
        let start = self.fixture.audio_start_timestamp_ms;
        let ms = |seconds: f64| start + (seconds * 1000.0).round() as i64;
        self.fixture.script[track].iter().map(|l| (l.text.clone(), ms(l.start), ms(l.end))).collect()
    }
}

/// `events/kvs-transcriber/<name>`, changed by `edit`.
pub fn event_with(name: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut event = local_stack::stack::load_event("kvs-transcriber", name).expect("sample event");
    edit(&mut event);
    event
}

/// `(content, startTime, endTime)` of stored messages.
pub fn texts(messages: &[sf_emulator::state::Message]) -> Vec<(String, i64, i64)> {
    messages.iter().map(|m| (m.content.clone(), m.start_time, m.end_time)).collect()
}
