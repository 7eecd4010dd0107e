//! Act: InvokeSalesforceRestApi from the flow (look up the caller, open and work a case, search, alert).

use super::*;

pub(super) async fn rest_section(
    options: &DemoOptions,
    emulator: &Emulator,
    sdk: &aws_config::SdkConfig,
    moto_endpoint: &str,
    app_keys: &TestKeyPair,
    out: &mut dyn Write,
) -> Result<Vec<Step>> {
    let params = [
        ("ACME_CC-salesforce-rest-api-auth-consumer-key", CONSUMER_KEY),
        ("ACME_CC-salesforce-rest-api-auth-private-key", app_keys.private_pkcs1_pem.as_str()),
        ("ACME_CC-salesforce-rest-api-access-token", "placeholder"),
        ("ACME_CC-salesforce-rest-api-audience", "https://login.salesforce.com/"),
    ];
    for (name, value) in params {
        put_secure_parameter(sdk, name, value).await?;
    }
    let account =
        emulator.insert_record("Account", serde_json::json!({"Name": "Acme Corporation", "Phone": "+15555550123"}))?;
    emulator.insert_record(
        "Contact",
        serde_json::json!({"FirstName": "Jane", "LastName": "Doe", "Phone": "+15555550123", "AccountId": account}),
    )?;
    let spec = FunctionSpec::new("InvokeSalesforceRestApi", options.bin("invoke-salesforce-rest-api"))
        .with_envs(aws_env(moto_endpoint))
        .with_envs(function_env(emulator, "invoke-salesforce-rest-api")?)
        .with_env("LOG_LEVEL", "debug")
        .with_timeout(Duration::from_secs(8));
    let function = FunctionProcess::spawn(spec).await.context("starting InvokeSalesforceRestApi")?;
    function.wait_ready(Duration::from_secs(10)).await.context("InvokeSalesforceRestApi did not start")?;
    let dir = options.events_root.join("invoke-salesforce-rest-api");
    let mut steps = Vec::new();
    let mut created_case: Option<String> = None;
    for path in event_files(&dir)? {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.contains("retry-ctr-sync") {
            continue; // arrives with the CTR resync
        }
        if name.contains("upload") {
            continue; // the transcript upload and its status arrive with ContactDataSync, after the call
        }
        let mut event = read_event(&path)?;
        if let (Some(case), Some(params)) = (&created_case, event["Details"]["Parameters"].as_object_mut())
            && params.get("methodName").and_then(Value::as_str) == Some("updateRecord")
        {
            params.insert("recordId".into(), Value::String(case.clone()));
        }
        let step = run_step(&function, emulator, "InvokeSalesforceRestApi", &name, event, Calls::Some).await?;
        if step.method == "createRecord" {
            created_case = step.output["recordId"].as_str().map(str::to_string);
        }
        print_step(out, steps.len() + 1, &step)?;
        steps.push(step);
    }
    let mut problems = Vec::new();
    check_logs(&function.logs(), app_keys, &mut problems);
    if let Some(step) = steps.last_mut() {
        step.problems.extend(problems);
    }
    function.shutdown().await?;
    Ok(steps)
}
