//! Act: the live call's Contact Lens segments, consumer to processor.

use super::*;

pub(super) const INBOUND_CONTACT: &str = "6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21";

/// The live call's Contact Lens segments through the real consumer, whose asynchronous invocations
/// reach the real processor binary through the local Lambda Invoke API.
pub(super) async fn contact_lens_section(
    options: &DemoOptions,
    emulator: &Emulator,
    moto_endpoint: &str,
    keys: &TestKeyPair,
    out: &mut dyn Write,
) -> Result<Step> {
    let processor = FunctionProcess::spawn(
        FunctionSpec::new("ContactLensProcessor", options.bin("contact-lens-processor"))
            .with_envs(aws_env(moto_endpoint))
            // No Amazon Connect in this act: the processor leaves the contact's attributes alone.
            .with_envs(
                function_env(emulator, "contact-lens-processor")?
                    .into_iter()
                    .filter(|(k, _)| k != "CONNECT_INSTANCE_ID"),
            )
            .with_timeout(Duration::from_secs(30)),
    )
    .await?;
    processor.wait_ready(Duration::from_secs(10)).await.context("ContactLensProcessor did not start")?;
    let consumer = FunctionProcess::spawn(
        FunctionSpec::new("ContactLensConsumer", options.bin("contact-lens-consumer"))
            .with_envs(aws_env(moto_endpoint))
            .with_envs(function_env(emulator, "contact-lens-consumer")?)
            .with_env("AWS_ENDPOINT_URL_LAMBDA", processor.endpoint())
            .with_env("CONTACT_LENS_PROCESSOR_FUNCTION_ARN", processor.arn()),
    )
    .await?;
    consumer.wait_ready(Duration::from_secs(10)).await.context("ContactLensConsumer did not start")?;
    let path = options.events_root.join("contact-lens-consumer/04-demo-call-live.json");
    let event = read_event(&path)?;
    let before = emulator.requests().len();
    let started = Instant::now();
    let invocation = consumer.invoke(event).await?;
    // The processor runs asynchronously: wait (bounded) for its work to reach Salesforce.
    let mut waited = Duration::ZERO;
    while waited < Duration::from_secs(20) {
        let call = emulator.voice_call(INBOUND_CONTACT);
        if call.is_some_and(|c| c.messages.len() >= 7 && !c.realtime_events.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }
    let duration_ms = started.elapsed().as_millis();
    let salesforce: Vec<SalesforceCall> = emulator.requests()[before..].iter().map(SalesforceCall::from).collect();
    let (output, error) = match invocation.result {
        Ok(v) => (v, None),
        Err(e) => (Value::Null, Some(e.to_string())),
    };
    let mut problems = Vec::new();
    if output["batchItemFailures"].as_array().is_none_or(|f| !f.is_empty()) {
        problems.push(format!("04-demo-call-live.json: the consumer reported failures: {output}"));
    }
    let call = emulator.voice_call(INBOUND_CONTACT);
    let messages = call.as_ref().map(|c| c.messages.clone()).unwrap_or_default();
    let events = call.as_ref().map(|c| c.realtime_events.clone()).unwrap_or_default();
    if messages.len() != 7 {
        problems.push(format!("expected the IVR message and 6 transcript lines on the call, found {}", messages.len()));
    }
    let kind = |e: &Value| e["event"]["type"].as_str().unwrap_or_default().to_string();
    if !events.iter().any(|e| kind(e) == "IntelligenceSignal__Category")
        || !events.iter().any(|e| kind(e) == "IntelligenceSignal__Sentiment")
    {
        problems.push("expected a category signal and sentiment signals on the call".into());
    }
    if call.as_ref().is_some_and(|c| c.duplicate_messages > 0) {
        problems.push("duplicate transcript messages".into());
    }
    if salesforce.iter().any(|c| !(200..300).contains(&c.status)) {
        problems.push("a transcript or signal request was refused".into());
    }
    check_logs(&consumer.logs(), keys, &mut problems);
    check_logs(&processor.logs(), keys, &mut problems);
    let step = Step {
        function: "ContactLensConsumer".into(),
        event: "04-demo-call-live.json".into(),
        method: "kinesis batch (8 records)".into(),
        contact_id: Some(INBOUND_CONTACT.into()),
        output,
        error,
        salesforce,
        duration_ms,
        problems,
    };
    print_step(out, 4, &step)?;
    for m in messages.iter().skip(1) {
        let who = if m.sender_type == "END_USER" { "caller" } else { "rep   " };
        writeln!(out, "      transcript  {who}  {}", m.content)?;
    }
    for e in events.iter().map(|e| &e["event"]) {
        let participant = e["participant"].as_str().map(|p| format!(" ({p})")).unwrap_or_default();
        writeln!(
            out,
            "      signal      {} = {}{participant}",
            e["type"].as_str().unwrap_or("?"),
            e["value"].as_str().unwrap_or("?")
        )?;
    }
    consumer.shutdown().await?;
    processor.shutdown().await?;
    Ok(step)
}
