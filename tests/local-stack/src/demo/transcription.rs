//! Act: the same call transcribed with Amazon Transcribe instead of Contact Lens. The inbound flow's
//! kvsConsumerTrigger invokes kvsTranscriber asynchronously; the transcriber reads the live call from
//! the local Kinesis Video endpoint (the two-track call fixture) and streams each track to the local
//! Amazon Transcribe streaming endpoint (HTTP/2 over TLS, as AWS serves it), whose results arrive on
//! the VoiceCall while the call is streamed.

use super::*;
use crate::connect::LocalConnect;
use crate::kvs::{KvsFixture, KvsServer};
use crate::transcribe_streaming::{EndpointConfig, TranscribeStreamingServer};

use contact_lens::INBOUND_CONTACT;

pub(super) async fn transcription_section(
    options: &DemoOptions,
    emulator: &Emulator,
    moto_endpoint: &str,
    keys: &TestKeyPair,
    out: &mut dyn Write,
) -> Result<Step> {
    let fixture = KvsFixture::live_call()?;
    let kvs = KvsServer::start(vec![fixture.clone()]).await?;
    let connect = LocalConnect::start().await?;
    let transcribe = TranscribeStreamingServer::start(EndpointConfig::default()).await?;
    let script_of = fixture.clone();
    transcribe.set_script_selector(move |session| script_of.transcriber_script(&session.session_id));
    let transcriber = FunctionProcess::spawn(
        FunctionSpec::new("kvsTranscriber", options.bin("kvs-transcriber"))
            .with_envs(aws_env(moto_endpoint))
            .with_envs(function_env(emulator, "kvs-transcriber")?)
            .with_env("AWS_ENDPOINT_URL_KINESIS_VIDEO", kvs.endpoint())
            .with_envs(connect.env())
            .with_env("AWS_ENDPOINT_URL_TRANSCRIBE_STREAMING", transcribe.https_endpoint())
            .with_env("SSL_CERT_FILE", transcribe.certificate_file().display().to_string())
            .with_timeout(Duration::from_secs(120)),
    )
    .await?;
    transcriber.wait_ready(Duration::from_secs(10)).await.context("kvsTranscriber did not start")?;
    let trigger = FunctionProcess::spawn(
        FunctionSpec::new("kvsConsumerTrigger", options.bin("kvs-consumer-trigger"))
            .with_envs(aws_env(moto_endpoint))
            .with_envs(function_env(emulator, "kvs-consumer-trigger")?)
            .with_env("AWS_ENDPOINT_URL_LAMBDA", transcriber.endpoint())
            .with_env("INVOKE_KVS_TRANSCRIBER_ARN", transcriber.arn()),
    )
    .await?;
    trigger.wait_ready(Duration::from_secs(10)).await.context("kvsConsumerTrigger did not start")?;

    let path = options.events_root.join("kvs-consumer-trigger/01-default.json");
    let event = read_event(&path)?;
    let before_requests = emulator.requests().len();
    let before = emulator.voice_call(INBOUND_CONTACT).map_or(0, |c| c.messages.len());
    let started = Instant::now();
    let invocation = trigger.invoke(event).await?;
    let (output, error) = match invocation.result {
        Ok(v) => (v, None),
        Err(e) => (Value::Null, Some(e.to_string())),
    };
    let mut problems = Vec::new();
    if output != serde_json::json!({"lambdaResult": "Success"}) {
        problems.push(format!("01-default.json: the trigger answered {output} (error {error:?})"));
    }
    // The transcriber runs asynchronously: show its messages as they arrive (a bounded wait).
    let audio_start = fixture.audio_start_timestamp_ms;
    let mut shown = before;
    let expected = fixture.script.values().map(Vec::len).sum::<usize>();
    while started.elapsed() < Duration::from_secs(30) && shown < before + expected {
        let messages = emulator.voice_call(INBOUND_CONTACT).map(|c| c.messages).unwrap_or_default();
        for m in messages.iter().skip(shown) {
            let who = if m.sender_type == "END_USER" { "caller" } else { "rep   " };
            let at = (m.start_time - audio_start) as f64 / 1000.0;
            writeln!(
                out,
                "      live  +{:>5} ms  {at:>4.1} s into the call  {who}  {}",
                started.elapsed().as_millis(),
                m.content
            )?;
        }
        shown = shown.max(messages.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let duration_ms = started.elapsed().as_millis();
    let salesforce: Vec<SalesforceCall> =
        emulator.requests()[before_requests..].iter().map(SalesforceCall::from).collect();
    let call = emulator.voice_call(INBOUND_CONTACT);
    let new = call.as_ref().map_or(0, |c| c.messages.len().saturating_sub(before));
    if new != expected {
        problems.push(format!("expected {expected} live transcript messages from kvsTranscriber, found {new}"));
    }
    if call.as_ref().is_some_and(|c| c.duplicate_messages > 0) {
        problems.push("duplicate transcript messages".into());
    }
    if salesforce.iter().any(|c| !(200..300).contains(&c.status)) {
        problems.push("a transcript message was refused".into());
    }
    check_logs(&trigger.logs(), keys, &mut problems);
    check_logs(&transcriber.logs(), keys, &mut problems);
    let step = Step {
        function: "kvsConsumerTrigger".into(),
        event: "01-default.json".into(),
        method: "flow: start real-time transcription".into(),
        contact_id: Some(INBOUND_CONTACT.into()),
        output,
        error,
        salesforce,
        duration_ms,
        problems,
    };
    print_step(out, 5, &step)?;
    trigger.shutdown().await?;
    transcriber.shutdown().await?;
    Ok(step)
}
