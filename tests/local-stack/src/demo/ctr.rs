//! Act: the calls' contact trace records (CTRDataSync), then the scheduled resync (CtrSyncRetry).

use super::*;

pub(super) const CTR_BUCKET: &str = "acme-ctr-backup";
pub(super) const TRANSFER_CONTACT: &str = "d7c6b5a4-3f2e-4d1c-8b0a-9e8f7d6c5b4a";

/// The CTR batch with Salesforce failing for the transfer (its record is backed up and reported
/// for retry), a poison record quarantined, then the scheduled resync repairing the transfer.
pub(super) async fn ctr_section(
    options: &DemoOptions,
    emulator: &Emulator,
    sdk: &aws_config::SdkConfig,
    moto_endpoint: &str,
    keys: &TestKeyPair,
    out: &mut dyn Write,
) -> Result<Vec<Step>> {
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build());
    s3.create_bucket().bucket(CTR_BUCKET).send().await.context("creating the CTR backup bucket")?;
    let spec = |name: &str, package: &str| -> Result<FunctionSpec> {
        Ok(FunctionSpec::new(name, options.bin(package))
            .with_envs(aws_env(moto_endpoint))
            .with_envs(function_env(emulator, package)?)
            .with_timeout(Duration::from_secs(30)))
    };
    let sync = FunctionProcess::spawn(spec("CTRDataSync", "ctr-data-sync")?).await?;
    sync.wait_ready(Duration::from_secs(10)).await.context("CTRDataSync did not start")?;

    // Salesforce is unavailable for the transfer's update.
    emulator.inject(sf_emulator::Fault::status(503, 1000).on("PATCH", &format!("/voiceCalls/{TRANSFER_CONTACT}")));
    let path = options.events_root.join("ctr-data-sync/demo-call-ctrs.json");
    let event = read_event(&path)?;
    let before = emulator.requests().len();
    let started = Instant::now();
    let invocation = sync.invoke(event.clone()).await?;
    let duration_ms = started.elapsed().as_millis();
    emulator.clear_faults();
    let salesforce: Vec<SalesforceCall> = emulator.requests()[before..].iter().map(SalesforceCall::from).collect();
    let mut problems = Vec::new();
    let (output, error) = match invocation.result {
        Ok(v) => (v, None),
        Err(e) => (Value::Null, Some(e.to_string())),
    };
    let failed: Vec<String> = output["batchItemFailures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_string))
        .collect();
    let transfer_seq = event["Records"][2]["kinesis"]["sequenceNumber"].as_str().unwrap_or_default().to_string();
    if failed != vec![transfer_seq.clone()] {
        problems.push(format!("demo-call-ctrs.json: expected only the transfer's record ({transfer_seq}) to be reported for retry, got {failed:?}"));
    }
    let list = |prefix: &'static str| {
        let s3 = s3.clone();
        async move {
            s3.list_objects_v2()
                .bucket(CTR_BUCKET)
                .prefix(prefix)
                .send()
                .await
                .map(|o| o.contents().iter().filter_map(|c| c.key().map(str::to_string)).collect::<Vec<_>>())
                .unwrap_or_default()
        }
    };
    let all = list("").await;
    let quarantined = list("quarantine/").await;
    let backups: Vec<&String> = all.iter().filter(|k| !k.starts_with("quarantine/")).collect();
    if backups.len() != 3 || quarantined.len() != 1 {
        problems.push(format!(
            "demo-call-ctrs.json: expected 3 backups and 1 quarantined record, got {} and {}",
            backups.len(),
            quarantined.len()
        ));
    }
    let step = Step {
        function: "CTRDataSync".into(),
        event: "demo-call-ctrs.json".into(),
        method: "kinesis batch (4 records)".into(),
        contact_id: None,
        output: output.clone(),
        error,
        salesforce,
        duration_ms,
        problems,
    };
    print_step(out, 1, &step)?;
    writeln!(
        out,
        "      S3 backups: {} (one per CTR, named by ContactId); quarantined: {}",
        backups.len(),
        quarantined.join(", ")
    )?;
    writeln!(out, "      the transfer's record is reported for retry: backed up, its Salesforce update not lost")?;
    let mut steps = vec![step];
    let mut logs_problems = Vec::new();
    check_logs(&sync.logs(), keys, &mut logs_problems);
    sync.shutdown().await?;

    // Later, the scheduled resync finds the VoiceCall that missed its sync and repairs it.
    let retry = FunctionProcess::spawn(
        // The calls of this demo are minutes old: no grace period.
        spec("CtrSyncRetry", "ctr-sync-retry")?.with_env("CTR_RESYNC_GRACE_MINUTES", "0"),
    )
    .await?;
    retry.wait_ready(Duration::from_secs(10)).await.context("CtrSyncRetry did not start")?;
    let path = options.events_root.join("ctr-sync-retry/scheduled-event.json");
    let mut step =
        run_step(&retry, emulator, "CtrSyncRetry", "scheduled-event.json", read_event(&path)?, Calls::Some).await?;
    step.method = "scheduled resync".into();
    if step.output["resynced"] != 1 || step.output["found"] != 1 {
        step.problems
            .push(format!("scheduled-event.json: expected the transfer to be found and resynced, got {}", step.output));
    }
    let repaired = emulator.voice_call(TRANSFER_CONTACT).is_some_and(|c| c.fields.contains_key("totalHoldDuration"));
    if !repaired {
        step.problems.push("the transfer's VoiceCall still lacks its CTR data".into());
    }
    print_step(out, 2, &step)?;
    check_logs(&retry.logs(), keys, &mut logs_problems);
    step.problems.extend(logs_problems);
    retry.shutdown().await?;
    steps.push(step);
    Ok(steps)
}
