//! `template.yaml`, read for real. Each check runs on the template as written (it must find no
//! problem) and on a copy broken on purpose (it must find exactly that problem), so a check that
//! stopped looking would fail here:
//!
//! 1. every package under `functions/` has exactly one `AWS::Serverless::Function` built from its
//!    binary with cargo-lambda, on provided.al2023, arm64, published as alias `active`;
//! 2. every environment variable a function reads is set: each function's real debug binary is
//!    started with exactly the environment the template gives it (both set-ups: a fresh deployment
//!    and an existing contact center) and must reach the Runtime API's first `/next` instead of
//!    exiting with a configuration error;
//! 3. Kinesis mappings and batch failures agree (`ReportBatchItemFailures`, bisect, finite retries
//!    and record age, an on-failure destination);
//! 4. no IAM statement allows `Resource: '*'` unless its actions cannot be scoped;
//! 5. every asynchronously invoked function has finite retries and an SQS on-failure destination,
//!    and its EventBridge and SNS deliveries a dead-letter queue;
//!
//! plus the alarms of Implementation Guide ch. 8, the Connect permissions of the flow-invoked functions and the
//! buckets' protection.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context as _, Result};
use local_stack::moto::{Moto, aws_env};
use local_stack::runtime::{FunctionProcess, FunctionSpec, binary_path};
use local_stack::template::{Resolved, Template, referenced_resource};
use local_stack::workspace_root;
use serde_json::{Value, json};

/// Actions that have no resource type, so a policy can only name them with `Resource: '*'`.
const UNSCOPABLE_ACTIONS: &[&str] = &[
    // Amazon Transcribe defines no resource type for it; the template scopes it with the
    // transcribe:OutputBucketName condition instead.
    "transcribe:StartTranscriptionJob",
    // Amazon Transcribe streaming defines no resource type either (kvsTranscriber).
    "transcribe:StartStreamTranscription",
    "transcribe:StartMedicalStreamTranscription",
];

/// SAM event types Lambda invokes asynchronously.
const ASYNC_EVENT_TYPES: &[&str] =
    &["Schedule", "ScheduleV2", "EventBridgeRule", "CloudWatchEvent", "SNS", "S3", "CloudWatchLogs", "IoTRule"];

/// SAM event types that would hide a poller's mapping (and bring a `Resource: '*'` policy).
const POLLER_EVENT_TYPES: &[&str] = &["Kinesis", "DynamoDB", "SQS", "MSK", "SelfManagedKafka", "MQ", "DocumentDB"];

/// How long a function may take to reach its first `/next`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Reading the template

fn load_template() -> Template {
    Template::load().unwrap_or_else(|e| panic!("{e:#}"))
}

/// The real template with one change.
fn broken(change: impl FnOnce(&mut Value)) -> Template {
    let mut template = load_template();
    change(&mut template.doc);
    template
}

/// A fresh deployment: only the parameters without a default (the stack creates its streams,
/// buckets and topic).
fn fresh_deployment() -> BTreeMap<String, String> {
    [
        ("CallCenterApiName", "ACME_CC"),
        ("SalesforceOrgId", "00D5g000004ABCD"),
        ("ScrtEndpointUrl", "https://acme.my.salesforce-scrt.com/telephony/v1"),
        ("ConnectInstanceId", "4defbdc5-3029-456e-9bf3-a0d168cf409c"),
        ("SalesforceRestApiEndpointBase", "https://acme.my.salesforce.com/services/data/v62.0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// An existing contact center: its streams, buckets and keys passed in.
fn existing_contact_center() -> BTreeMap<String, String> {
    let mut params = fresh_deployment();
    params.extend(
        [
            ("CtrStreamArn", "arn:aws:kinesis:us-east-1:000000000000:stream/ACME_CC-000000000000-CTRStream"),
            (
                "ContactLensStreamArn",
                "arn:aws:kinesis:us-east-1:000000000000:stream/ACME_CC-000000000000-ContactLensStream",
            ),
            ("SalesforceS3BucketForVoiceMail", "acme-cc-000000000000"),
            ("CtrBackupBucketName", "acme-cc-ctr-backup"),
            ("TelephonyIntegrationAuthPrivateKeySSMParamName", "acme-scrt-private-key"),
            ("SalesforceRestApiSubjectSSMParamName", "integration@acme.example"),
            ("SsmKmsKeyArn", "arn:aws:kms:us-east-1:000000000000:key/0b1c2d3e-0000-4000-8000-000000000001"),
            ("KvsKmsKeyArn", "arn:aws:kms:us-east-1:000000000000:key/0b1c2d3e-0000-4000-8000-000000000002"),
            ("KvsStreamNamePrefix", "acme-live"),
            ("AlarmEmail", "voice-ops@acme.example"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    params
}

fn setups() -> [(&'static str, BTreeMap<String, String>); 2] {
    [("fresh deployment", fresh_deployment()), ("existing contact center", existing_contact_center())]
}

fn resolve(template: &Template, setup: &str, params: &BTreeMap<String, String>) -> Resolved {
    template.resolve(params).unwrap_or_else(|e| panic!("cannot resolve the template for a {setup}: {e:#}"))
}

/// The packages under `functions/`: the `name` of each `Cargo.toml`'s `[package]`.
fn function_packages() -> Vec<String> {
    let dir = workspace_root().join("functions");
    let mut packages = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display())) {
        let manifest = entry.expect("a directory entry").path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else { continue };
        let mut in_package = false;
        let mut name = None;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_package = line == "[package]";
            } else if in_package && let Some(value) = line.strip_prefix("name") {
                name = value.trim_start().strip_prefix('=').map(|v| v.trim().trim_matches('"').to_string());
                break;
            }
        }
        packages.push(name.unwrap_or_else(|| panic!("{} names no package", manifest.display())));
    }
    packages.sort();
    assert!(!packages.is_empty(), "no function package under {}", dir.display());
    packages
}

/// `(logical id, Metadata.BuildProperties.Binary)` of every SAM function.
fn functions(template: &Template) -> Vec<(String, String)> {
    let resources = template.resources();
    template
        .resources_of_type("AWS::Serverless::Function")
        .into_iter()
        .map(|id| {
            let binary = resources[&id]
                .pointer("/Metadata/BuildProperties/Binary")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (id, binary)
        })
        .collect()
}

/// Whether a function crate returns Kinesis batch failures (scanning its `src/lib.rs`).
fn returns_batch_failures(package: &str) -> bool {
    let lib = workspace_root().join("functions").join(package).join("src").join("lib.rs");
    std::fs::read_to_string(&lib)
        .is_ok_and(|code| code.contains("KinesisEventResponse") || code.contains("batch_response"))
}

fn resource_type(template: &Template, id: &str) -> Option<String> {
    template.resources().get(id).and_then(|r| r.get("Type")).and_then(Value::as_str).map(str::to_string)
}

fn as_list(value: Option<&Value>) -> Vec<Value> {
    match value {
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
        None => Vec::new(),
    }
}

fn assert_no_problems(check: &str, problems: &[String]) {
    assert!(problems.is_empty(), "{check}:\n  {}", problems.join("\n  "));
}

fn assert_finds(check: &str, problems: &[String], needles: &[&str]) {
    assert!(
        problems.iter().any(|p| needles.iter().all(|n| p.contains(n))),
        "{check} should report a problem naming {needles:?}, found:\n  {}",
        problems.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// 1. One resource per function package

fn check_function_resources(template: &Template, packages: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let functions = functions(template);
    for package in packages {
        let ids: Vec<&String> = functions.iter().filter(|(_, b)| b == package).map(|(id, _)| id).collect();
        if ids.len() != 1 {
            problems.push(format!(
                "package {package}: {} AWS::Serverless::Function resources build it ({ids:?}), expected exactly one",
                ids.len()
            ));
        }
    }
    let resolved = match template.resolve(&fresh_deployment()) {
        Ok(resolved) => resolved,
        Err(e) => {
            problems.push(format!("the template does not resolve: {e:#}"));
            return problems;
        }
    };
    for (id, binary) in &functions {
        if !packages.contains(binary) {
            problems.push(format!("{id}: Metadata.BuildProperties.Binary {binary:?} is no package under functions/"));
        }
        let resource = &template.resources()[id];
        if resource.pointer("/Metadata/BuildMethod").and_then(Value::as_str) != Some("rust-cargolambda") {
            problems.push(format!("{id}: Metadata.BuildMethod is not rust-cargolambda"));
        }
        let expect = [
            ("Runtime", json!("provided.al2023")),
            ("Architectures", json!(["arm64"])),
            ("AutoPublishAlias", json!("active")),
            ("Handler", json!("bootstrap")),
        ];
        for (property, expected) in expect {
            let actual = resolved.function_property(id, property);
            if actual != Some(&expected) {
                problems.push(format!("{id}: {property} is {actual:?}, expected {expected}"));
            }
        }
    }
    problems
}

#[test]
fn every_function_package_has_exactly_one_function_resource() {
    let packages = function_packages();
    assert_no_problems("function resources", &check_function_resources(&load_template(), &packages));
}

#[test]
fn a_missing_or_duplicated_function_resource_is_reported() {
    let packages = function_packages();
    let missing = broken(|doc| {
        doc["Resources"].as_object_mut().unwrap().remove("InvokeTelephonyIntegrationApiFunction");
    });
    assert_finds(
        "function resources",
        &check_function_resources(&missing, &packages),
        &["invoke-telephony-integration-api", "0 AWS::Serverless::Function"],
    );
    let duplicated = broken(|doc| {
        let copy = doc["Resources"]["CtrDataSyncFunction"].clone();
        doc["Resources"]["CtrDataSyncFunctionCopy"] = copy;
    });
    assert_finds("function resources", &check_function_resources(&duplicated, &packages), &["ctr-data-sync", "2 AWS"]);
    let x86 =
        broken(|doc| doc["Resources"]["RealtimeAlertFunction"]["Properties"]["Architectures"] = json!(["x86_64"]));
    assert_finds("function resources", &check_function_resources(&x86, &packages), &["RealtimeAlertFunction", "arm64"]);
}

// ---------------------------------------------------------------------------------------------
// 2. Every variable a function reads is set: start the real binaries with the template's environment

/// Starts every function (or those in `only`) of `template`, in each set-up, with the environment
/// the template gives it plus the local stack's AWS settings, and reports each that does not reach
/// its first `/next`.
async fn check_environment(template: &Template, only: Option<&[&str]>) -> Vec<String> {
    let moto = match Moto::shared() {
        Ok(moto) => moto,
        Err(e) => return vec![format!("the local AWS emulator did not start: {e:#}")],
    };
    let mut problems = Vec::new();
    for (setup, params) in setups() {
        let resolved = match template.resolve(&params) {
            Ok(resolved) => resolved,
            Err(e) => {
                problems.push(format!("{setup}: the template does not resolve: {e:#}"));
                continue;
            }
        };
        for (id, binary) in functions(template) {
            if only.is_some_and(|only| !only.contains(&id.as_str())) {
                continue;
            }
            if let Err(e) = start_function(&resolved, &id, &binary, &moto.endpoint()).await {
                problems.push(format!("{setup}: {id} ({binary}): {e:#}"));
            }
        }
    }
    problems
}

async fn start_function(resolved: &Resolved, id: &str, binary: &str, moto_endpoint: &str) -> Result<()> {
    let env = resolved.function_env(id)?;
    let name = resolved
        .function_property(id, "FunctionName")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| id.to_string());
    let spec = FunctionSpec::new(name, binary_path(binary)).with_envs(env).with_envs(aws_env(moto_endpoint));
    let process = FunctionProcess::spawn(spec).await?;
    // The error names the exit status and ends with the function's last log lines.
    let ready = process.wait_ready(READY_TIMEOUT).await;
    process.shutdown().await.context("stopping the function")?;
    ready.map(|_| ())
}

#[tokio::test]
async fn every_function_starts_with_the_environment_the_template_sets() {
    assert_no_problems("function environments", &check_environment(&load_template(), None).await);
}

#[tokio::test]
async fn a_variable_missing_from_the_template_stops_the_function_at_cold_start() {
    let without = broken(|doc| {
        doc["Resources"]["InvokeTelephonyIntegrationApiFunction"]["Properties"]["Environment"]["Variables"]
            .as_object_mut()
            .unwrap()
            .remove("SCRT_ENDPOINT_BASE");
    });
    let problems = check_environment(&without, Some(&["InvokeTelephonyIntegrationApiFunction"])).await;
    assert_finds("function environments", &problems, &["InvokeTelephonyIntegrationApiFunction", "SCRT_ENDPOINT_BASE"]);
    assert_eq!(problems.len(), 2, "one failure per set-up: {problems:#?}");
}

// ---------------------------------------------------------------------------------------------
// 3. Kinesis mappings and batch failures agree

fn check_kinesis_mappings(template: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let resources = template.resources();
    let binaries: BTreeMap<String, String> = functions(template).into_iter().collect();
    let mut mapped = BTreeSet::new();
    for id in template.resources_of_type("AWS::Lambda::EventSourceMapping") {
        let p = &resources[&id]["Properties"];
        let Some(target) = p.get("FunctionName").and_then(referenced_resource) else {
            problems.push(format!("{id}: FunctionName does not refer to a function of the template"));
            continue;
        };
        let Some(binary) = binaries.get(&target) else {
            problems.push(format!("{id}: targets {target}, not an AWS::Serverless::Function of the template"));
            continue;
        };
        mapped.insert(binary.clone());
        if !returns_batch_failures(binary) {
            problems.push(format!("{id}: targets {target}, whose crate {binary} does not return batch failures"));
        }
        if !as_list(p.get("FunctionResponseTypes")).contains(&json!("ReportBatchItemFailures")) {
            problems.push(format!("{id}: FunctionResponseTypes lacks ReportBatchItemFailures, so the batchItemFailures {target} returns would be ignored"));
        }
        // The function cannot see its mapping: the template tells it (issue 14 item 2).
        let reports = resources[&target].pointer("/Properties/Environment/Variables/REPORT_BATCH_ITEM_FAILURES");
        if reports != Some(&json!("true")) {
            problems.push(format!("{id}: {target} lacks REPORT_BATCH_ITEM_FAILURES \"true\", so it would fail whole batches although the mapping reads batchItemFailures"));
        }
        if p.get("BisectBatchOnFunctionError") != Some(&json!(true)) {
            problems.push(format!("{id}: BisectBatchOnFunctionError is not true"));
        }
        match p.get("MaximumRetryAttempts").and_then(Value::as_i64) {
            Some(n) if (0..=10_000).contains(&n) => {}
            other => problems.push(format!("{id}: MaximumRetryAttempts is {other:?}, not a finite count")),
        }
        match p.get("MaximumRecordAgeInSeconds").and_then(Value::as_i64) {
            Some(n) if (60..=604_800).contains(&n) => {}
            other => problems.push(format!("{id}: MaximumRecordAgeInSeconds is {other:?}, not a finite age")),
        }
        let destination = p.pointer("/DestinationConfig/OnFailure/Destination").and_then(referenced_resource);
        if destination.as_deref().and_then(|q| resource_type(template, q)).as_deref() != Some("AWS::SQS::Queue") {
            problems.push(format!("{id}: DestinationConfig.OnFailure.Destination is not an SQS queue of the template"));
        }
        if p.get("StartingPosition").is_none() {
            problems.push(format!("{id}: no StartingPosition"));
        }
    }
    for (id, binary) in &binaries {
        if returns_batch_failures(binary) && !mapped.contains(binary) {
            problems.push(format!(
                "{id}: crate {binary} returns batch failures but no AWS::Lambda::EventSourceMapping targets it"
            ));
        }
        let events =
            resources[id].pointer("/Properties/Events").and_then(Value::as_object).cloned().unwrap_or_default();
        for (name, event) in events {
            let kind = event.get("Type").and_then(Value::as_str).unwrap_or_default();
            if POLLER_EVENT_TYPES.contains(&kind) {
                problems.push(format!("{id}: event {name} is a SAM {kind} event; use an explicit AWS::Lambda::EventSourceMapping (a SAM poller event adds a Resource '*' policy)"));
            }
        }
    }
    for (setup, params) in setups() {
        let resolved = resolve(template, setup, &params);
        for id in resolved.resources_of_type("AWS::Lambda::EventSourceMapping") {
            let arn = resolved.resources[&id].pointer("/Properties/EventSourceArn").and_then(Value::as_str);
            if !arn.is_some_and(|a| a.starts_with("arn:aws:kinesis:")) {
                problems.push(format!("{setup}: {id}: EventSourceArn resolves to {arn:?}, not a Kinesis stream"));
            }
        }
    }
    problems
}

#[test]
fn kinesis_mappings_report_batch_item_failures_where_the_code_returns_them() {
    assert_no_problems("Kinesis mappings", &check_kinesis_mappings(&load_template()));
}

#[test]
fn a_mapping_that_would_ignore_batch_failures_is_reported() {
    let no_report = broken(|doc| {
        doc["Resources"]["CtrDataSyncStreamMapping"]["Properties"]
            .as_object_mut()
            .unwrap()
            .remove("FunctionResponseTypes");
    });
    assert_finds(
        "Kinesis mappings",
        &check_kinesis_mappings(&no_report),
        &["CtrDataSyncStreamMapping", "ReportBatchItemFailures"],
    );
    let unmapped = broken(|doc| {
        doc["Resources"].as_object_mut().unwrap().remove("VoiceMailAudioStreamMapping");
    });
    assert_finds(
        "Kinesis mappings",
        &check_kinesis_mappings(&unmapped),
        &["voicemail-audio-processing", "no AWS::Lambda::EventSourceMapping"],
    );
    let unflagged = broken(|doc| {
        doc["Resources"]["VoiceMailAudioProcessingFunction"]["Properties"]["Environment"]["Variables"]
            .as_object_mut()
            .unwrap()
            .remove("REPORT_BATCH_ITEM_FAILURES");
    });
    assert_finds(
        "Kinesis mappings",
        &check_kinesis_mappings(&unflagged),
        &["VoiceMailAudioStreamMapping", "VoiceMailAudioProcessingFunction lacks REPORT_BATCH_ITEM_FAILURES"],
    );
    let endless =
        broken(|doc| doc["Resources"]["ContactLensStreamMapping"]["Properties"]["MaximumRetryAttempts"] = json!(-1));
    assert_finds(
        "Kinesis mappings",
        &check_kinesis_mappings(&endless),
        &["ContactLensStreamMapping", "MaximumRetryAttempts"],
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Least privilege: no Resource '*' unless the actions cannot be scoped

fn statements_of(resolved: &Resolved) -> (Vec<(String, Value)>, Vec<String>) {
    let mut statements = Vec::new();
    let mut problems = Vec::new();
    for (id, resource) in &resolved.resources {
        let kind = resource.get("Type").and_then(Value::as_str).unwrap_or_default();
        let p = resource.get("Properties").cloned().unwrap_or(Value::Null);
        let mut documents = Vec::new();
        match kind {
            "AWS::Serverless::Function" => {
                for policy in as_list(p.get("Policies")) {
                    match policy {
                        Value::Object(ref map) if map.contains_key("Statement") => documents.push(policy.clone()),
                        Value::String(managed) => problems.push(format!(
                            "{id}: managed policy {managed}: its resources cannot be checked; write the statements"
                        )),
                        other => problems.push(format!("{id}: SAM policy template {other}: write the statements")),
                    }
                }
            }
            "AWS::IAM::Role" => {
                for policy in as_list(p.get("Policies")) {
                    documents.extend(policy.get("PolicyDocument").cloned());
                }
                for managed in as_list(p.get("ManagedPolicyArns")) {
                    problems.push(format!("{id}: managed policy {managed}: its resources cannot be checked"));
                }
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::IAM::RolePolicy" => {
                documents.extend(p.get("PolicyDocument").cloned());
            }
            _ => {}
        }
        for document in documents {
            for statement in as_list(document.get("Statement")) {
                statements.push((id.clone(), statement));
            }
        }
    }
    (statements, problems)
}

fn check_iam(template: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    for (setup, params) in setups() {
        let resolved = resolve(template, setup, &params);
        let (statements, found) = statements_of(&resolved);
        problems.extend(found.into_iter().map(|p| format!("{setup}: {p}")));
        for (id, statement) in statements {
            let sid = statement.get("Sid").and_then(Value::as_str).unwrap_or("(no Sid)");
            if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
                continue;
            }
            if statement.get("NotResource").is_some() || statement.get("NotAction").is_some() {
                problems.push(format!("{setup}: {id} {sid}: NotResource/NotAction allow more than they name"));
            }
            let actions: Vec<String> =
                as_list(statement.get("Action")).iter().filter_map(|a| a.as_str().map(str::to_string)).collect();
            for action in actions.iter().filter(|a| a.contains('*')) {
                problems.push(format!("{setup}: {id} {sid}: wildcard action {action}"));
            }
            let every_resource = as_list(statement.get("Resource")).contains(&json!("*"));
            if every_resource {
                for action in actions.iter().filter(|a| !UNSCOPABLE_ACTIONS.contains(&a.as_str())) {
                    problems.push(format!(
                        "{setup}: {id} {sid}: {action} on Resource '*' although it can be scoped to a resource"
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn no_policy_allows_every_resource_unless_the_action_cannot_be_scoped() {
    assert_no_problems("IAM", &check_iam(&load_template()));
}

#[test]
fn a_statement_on_every_resource_is_reported() {
    let open = broken(|doc| {
        let statements = doc["Resources"]["VoiceMailPackagingFunction"]["Properties"]["Policies"][0]["Statement"]
            .as_array_mut()
            .unwrap();
        statements.push(json!({"Sid": "ReadEverything", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}));
    });
    assert_finds("IAM", &check_iam(&open), &["VoiceMailPackagingFunction", "s3:GetObject", "Resource '*'"]);
    let managed = broken(|doc| {
        doc["Resources"]["RealtimeAlertFunction"]["Properties"]["Policies"]
            .as_array_mut()
            .unwrap()
            .push(json!("AmazonSSMReadOnlyAccess"));
    });
    assert_finds("IAM", &check_iam(&managed), &["RealtimeAlertFunction", "AmazonSSMReadOnlyAccess"]);
}

// ---------------------------------------------------------------------------------------------
// 5. Asynchronous invocations end in a queue, never nowhere

/// SAM functions invoked asynchronously: by an asynchronous SAM event, by an EventBridge rule, SNS
/// subscription or service permission of the template, or by another function (whose environment
/// names it).
fn async_functions(template: &Template) -> BTreeSet<String> {
    let resources = template.resources();
    let functions: BTreeSet<String> = functions(template).into_iter().map(|(id, _)| id).collect();
    let mut found = BTreeSet::new();
    for id in &functions {
        let r = &resources[id];
        let events = r.pointer("/Properties/Events").and_then(Value::as_object).cloned().unwrap_or_default();
        if events
            .values()
            .any(|e| e.get("Type").and_then(Value::as_str).is_some_and(|t| ASYNC_EVENT_TYPES.contains(&t)))
        {
            found.insert(id.clone());
        }
        let vars =
            r.pointer("/Properties/Environment/Variables").and_then(Value::as_object).cloned().unwrap_or_default();
        for value in vars.values() {
            if let Some(target) = referenced_resource(value).filter(|t| functions.contains(t) && t != id) {
                found.insert(target);
            }
        }
    }
    for r in resources.values() {
        let p = r.get("Properties").cloned().unwrap_or(Value::Null);
        let targets: Vec<Value> = match r.get("Type").and_then(Value::as_str).unwrap_or_default() {
            "AWS::Events::Rule" => as_list(p.get("Targets")).iter().filter_map(|t| t.get("Arn").cloned()).collect(),
            "AWS::SNS::Subscription" => p.get("Endpoint").cloned().into_iter().collect(),
            "AWS::Lambda::Permission"
                if p.get("Principal").and_then(Value::as_str).is_some_and(|principal| {
                    ["events.amazonaws.com", "sns.amazonaws.com", "s3.amazonaws.com", "logs.amazonaws.com"]
                        .contains(&principal)
                }) =>
            {
                p.get("FunctionName").cloned().into_iter().collect()
            }
            _ => Vec::new(),
        };
        for target in targets.iter().filter_map(referenced_resource) {
            if functions.contains(&target) {
                found.insert(target);
            }
        }
    }
    found
}

fn check_async(template: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let resources = template.resources();
    let is_queue = |value: Option<&Value>| {
        value.and_then(referenced_resource).and_then(|q| resource_type(template, &q)).as_deref()
            == Some("AWS::SQS::Queue")
    };
    let explicit_configs: Vec<Value> = template
        .resources_of_type("AWS::Lambda::EventInvokeConfig")
        .iter()
        .map(|id| resources[id]["Properties"].clone())
        .collect();
    for id in async_functions(template) {
        // SAM's EventInvokeConfig (on the alias), else an explicit one on the alias.
        let config = resources[&id].pointer("/Properties/EventInvokeConfig").cloned().or_else(|| {
            explicit_configs
                .iter()
                .find(|c| {
                    c.get("FunctionName").and_then(referenced_resource).as_deref() == Some(id.as_str())
                        && c.get("Qualifier") == Some(&json!("active"))
                })
                .cloned()
        });
        let Some(config) = config else {
            problems.push(format!("{id} is invoked asynchronously but has no EventInvokeConfig (Lambda's default retries twice, then drops the event)"));
            continue;
        };
        match config.get("MaximumRetryAttempts").and_then(Value::as_i64) {
            Some(0..=2) => {}
            other => {
                problems.push(format!("{id}: EventInvokeConfig.MaximumRetryAttempts is {other:?}, expected 0 to 2"))
            }
        }
        match config.get("MaximumEventAgeInSeconds").and_then(Value::as_i64) {
            Some(60..=21_600) => {}
            other => problems.push(format!("{id}: EventInvokeConfig.MaximumEventAgeInSeconds is {other:?}")),
        }
        let on_failure = config.pointer("/DestinationConfig/OnFailure");
        if !is_queue(on_failure.and_then(|o| o.get("Destination"))) {
            problems
                .push(format!("{id}: no SQS on-failure destination (EventInvokeConfig.DestinationConfig.OnFailure)"));
        }
        if let Some(kind) = on_failure.and_then(|o| o.get("Type")).filter(|t| *t != &json!("SQS")) {
            problems.push(format!("{id}: on-failure destination type {kind}, expected SQS"));
        }
        let events =
            resources[&id].pointer("/Properties/Events").and_then(Value::as_object).cloned().unwrap_or_default();
        for (name, event) in events {
            let p = event.get("Properties").cloned().unwrap_or(Value::Null);
            match event.get("Type").and_then(Value::as_str).unwrap_or_default() {
                "EventBridgeRule" | "CloudWatchEvent" => {
                    if !is_queue(p.pointer("/DeadLetterConfig/Arn")) {
                        problems.push(format!(
                            "{id}: event {name} has no SQS DeadLetterConfig.Arn for undeliverable events"
                        ));
                    }
                    if !p.pointer("/RetryPolicy/MaximumRetryAttempts").is_some_and(Value::is_i64) {
                        problems.push(format!("{id}: event {name} has no RetryPolicy.MaximumRetryAttempts"));
                    }
                }
                "SNS" if !is_queue(p.pointer("/RedrivePolicy/deadLetterTargetArn")) => {
                    problems.push(format!("{id}: event {name} has no SQS RedrivePolicy.deadLetterTargetArn"));
                }
                _ => {}
            }
        }
    }
    problems
}

#[test]
fn every_asynchronous_function_has_an_on_failure_destination() {
    let template = load_template();
    let found = async_functions(&template);
    for expected in [
        "ContactLensProcessorFunction",
        "HandleContactEventsFunction",
        "RealtimeAlertFunction",
        "PostCallAnalysisTriggerFunction",
        "VoiceMailTranscribeFunction",
        "VoiceMailPackagingFunction",
    ] {
        assert!(found.contains(expected), "{expected} should be recognised as invoked asynchronously: {found:?}");
    }
    assert_no_problems("asynchronous invocations", &check_async(&template));
}

#[test]
fn an_asynchronous_function_without_a_destination_is_reported() {
    let no_destination = broken(|doc| {
        doc["Resources"]["HandleContactEventsFunction"]["Properties"]["EventInvokeConfig"]
            .as_object_mut()
            .unwrap()
            .remove("DestinationConfig");
    });
    assert_finds(
        "asynchronous invocations",
        &check_async(&no_destination),
        &["HandleContactEventsFunction", "on-failure"],
    );
    let no_config = broken(|doc| {
        doc["Resources"]["ContactLensProcessorFunction"]["Properties"]
            .as_object_mut()
            .unwrap()
            .remove("EventInvokeConfig");
    });
    assert_finds(
        "asynchronous invocations",
        &check_async(&no_config),
        &["ContactLensProcessorFunction", "no EventInvokeConfig"],
    );
    let no_dlq = broken(|doc| {
        doc["Resources"]["VoiceMailTranscribeFunction"]["Properties"]["Events"]["RecordingCreated"]["Properties"]
            .as_object_mut()
            .unwrap()
            .remove("DeadLetterConfig");
    });
    assert_finds(
        "asynchronous invocations",
        &check_async(&no_dlq),
        &["VoiceMailTranscribeFunction", "RecordingCreated"],
    );
}

// ---------------------------------------------------------------------------------------------
// Alarms (Implementation Guide ch. 8; docs/functions.md#alarms-and-dashboards), Connect permissions, buckets

/// Implementation Guide ch. 8, "Customer Alerts Alarms", the table: each documented Lambda alarm
/// by function (logical id) and metric, with its name as the table spells it and its initial state
/// (actions enabled). The table's names, not the console screenshot's (`SCV Lambda - ...`), which
/// also differs for HandleContactEvents; every name ends with ` (<CallCenterApiName>)` so two
/// contact centers in one account and region do not collide (docs/migrating.md#alarm-names).
const DOCUMENTED_ALARMS: &[(&str, &str, &str, bool)] = &[
    (
        "InvokeTelephonyIntegrationApiFunction",
        "Errors",
        "SCV Lambda InvokeTelephonyIntegrationApiFunction Errors",
        true,
    ),
    (
        "InvokeTelephonyIntegrationApiFunction",
        "Throttles",
        "SCV Lambda InvokeTelephonyIntegrationApiFunction Throttles",
        false,
    ),
    ("InvokeSalesforceRestApiFunction", "Errors", "SCV Lambda InvokeSalesforceRestApiFunction Errors", false),
    ("InvokeSalesforceRestApiFunction", "Throttles", "SCV Lambda InvokeSalesforceRestApiFunction Throttles", false),
    ("HandleContactEventsFunction", "Errors", "SCV Lambda HandleContactEvents Errors", true),
    ("HandleContactEventsFunction", "Throttles", "SCV Lambda HandleContactEvents Throttles", false),
    ("CtrDataSyncFunction", "Errors", "SCV Lambda CTRDataSyncFunction Errors", true),
    ("CtrDataSyncFunction", "Throttles", "SCV Lambda CTRDataSyncFunction Throttles", false),
    ("KvsConsumerTriggerFunction", "Errors", "SCV Lambda kvsConsumerTrigger Errors", false),
    ("KvsConsumerTriggerFunction", "Throttles", "SCV Lambda kvsConsumerTrigger Throttles", false),
    ("KvsTranscriberFunction", "Errors", "SCV Lambda kvsTranscriber Errors", false),
    ("KvsTranscriberFunction", "Throttles", "SCV Lambda kvsTranscriber Throttles", false),
];

/// The table's general alarm.
const CONCURRENT_CALLS_ALARM: &str = "SCV Connect Concurrent Calls Percentage";

/// The suffix that keeps the guide's names unique per stack.
const ALARM_SUFFIX: &str = " (${CallCenterApiName})";

fn check_alarms(template: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let resources = template.resources();
    let alarms: Vec<(String, Value)> = template
        .resources_of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|id| (id.clone(), resources[&id]["Properties"].clone()))
        .collect();
    // The topic RealtimeAlert listens on.
    let alert_topics: BTreeSet<String> = functions(template)
        .iter()
        .filter(|(_, b)| b == "realtime-alert")
        .flat_map(|(id, _)| {
            let events =
                resources[id].pointer("/Properties/Events").and_then(Value::as_object).cloned().unwrap_or_default();
            events
                .values()
                .filter(|e| e.get("Type") == Some(&json!("SNS")))
                .filter_map(|e| e.pointer("/Properties/Topic").and_then(referenced_resource))
                .collect::<Vec<_>>()
        })
        .collect();
    if alert_topics.is_empty() {
        problems.push("RealtimeAlert subscribes to no SNS topic of the template".to_string());
    }
    for (id, binary) in functions(template) {
        let notify_self = binary == "realtime-alert";
        for (metric, threshold, undocumented_enabled) in [("Errors", 3.0, true), ("Throttles", 5.0, false)] {
            let documented = DOCUMENTED_ALARMS.iter().find(|(f, m, _, _)| *f == id && *m == metric);
            let enabled = documented.map_or(undocumented_enabled, |(_, _, _, enabled)| *enabled);
            let found = alarms.iter().find(|(_, a)| {
                a.get("Namespace") == Some(&json!("AWS/Lambda"))
                    && a.get("MetricName") == Some(&json!(metric))
                    && as_list(a.get("Dimensions")).iter().any(|d| {
                        d.get("Name") == Some(&json!("FunctionName"))
                            && d.get("Value").and_then(referenced_resource).as_deref() == Some(id.as_str())
                    })
            });
            let Some((alarm, a)) = found else {
                problems.push(format!("{id}: no {metric} alarm"));
                continue;
            };
            let expect = [
                ("Statistic", json!("Sum")),
                ("Period", json!(60)),
                ("EvaluationPeriods", json!(1)),
                ("ComparisonOperator", json!("GreaterThanOrEqualToThreshold")),
                ("ActionsEnabled", json!(enabled)),
            ];
            for (property, expected) in expect {
                if a.get(property) != Some(&expected) {
                    problems.push(format!("{alarm}: {property} is {:?}, documented {expected}", a.get(property)));
                }
            }
            if a.get("Threshold").and_then(Value::as_f64) != Some(threshold) {
                problems.push(format!("{alarm}: Threshold is {:?}, documented {threshold}", a.get("Threshold")));
            }
            let name = a.pointer("/AlarmName/Fn::Sub").and_then(Value::as_str).unwrap_or_default();
            match documented {
                Some((_, _, documented, _)) if name != format!("{documented}{ALARM_SUFFIX}") => {
                    problems.push(format!("{alarm}: AlarmName {name:?}, documented \"{documented}\"{ALARM_SUFFIX}"))
                }
                None if !(name.starts_with("SCV Lambda ") && name.ends_with(&format!(" {metric}{ALARM_SUFFIX}"))) => {
                    problems.push(format!(
                        "{alarm}: AlarmName {name:?} is not \"SCV Lambda <function> {metric}\"{ALARM_SUFFIX}"
                    ))
                }
                _ => {}
            }
            let targets: BTreeSet<String> =
                as_list(a.get("AlarmActions")).iter().filter_map(referenced_resource).collect();
            let to_realtime_alert = targets.iter().any(|t| alert_topics.contains(t));
            if notify_self && to_realtime_alert {
                problems.push(format!("{alarm}: RealtimeAlert's own alarm notifies the topic RealtimeAlert serves"));
            }
            if !notify_self && !to_realtime_alert {
                problems.push(format!("{alarm}: does not notify the topic RealtimeAlert listens on"));
            }
        }
    }
    let concurrent = alarms.iter().find(|(_, a)| a.get("MetricName") == Some(&json!("ConcurrentCallsPercentage")));
    match concurrent {
        None => problems.push("no ConcurrentCallsPercentage alarm".to_string()),
        Some((alarm, a)) => {
            let expect = [
                ("Namespace", json!("AWS/Connect")),
                ("Period", json!(60)),
                ("EvaluationPeriods", json!(10)),
                ("DatapointsToAlarm", json!(10)),
                ("Threshold", json!(0.8)),
                ("ComparisonOperator", json!("GreaterThanOrEqualToThreshold")),
                ("ActionsEnabled", json!(true)),
            ];
            for (property, expected) in expect {
                if a.get(property) != Some(&expected) {
                    problems.push(format!("{alarm}: {property} is {:?}, documented {expected}", a.get(property)));
                }
            }
            let name = a.pointer("/AlarmName/Fn::Sub").and_then(Value::as_str).unwrap_or_default();
            if name != format!("{CONCURRENT_CALLS_ALARM}{ALARM_SUFFIX}") {
                problems.push(format!(
                    "{alarm}: AlarmName {name:?}, documented \"{CONCURRENT_CALLS_ALARM}\"{ALARM_SUFFIX}"
                ));
            }
            if !as_list(a.get("AlarmActions")).iter().filter_map(referenced_resource).any(|t| alert_topics.contains(&t))
            {
                problems.push(format!("{alarm}: does not notify the topic RealtimeAlert listens on"));
            }
        }
    }
    // Names unique within the stack, and different for another contact center in the account.
    for (setup, params) in setups() {
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        let resolved = resolve(template, setup, &params);
        for id in resolved.resources_of_type("AWS::CloudWatch::Alarm") {
            let name = resolved.resources[&id].pointer("/Properties/AlarmName").and_then(Value::as_str);
            let Some(name) = name else {
                problems.push(format!("{setup}: {id} has no AlarmName"));
                continue;
            };
            if !name.contains(&params["CallCenterApiName"]) {
                problems.push(format!("{setup}: {id}: AlarmName {name:?} would collide with another contact center's"));
            }
            if let Some(other) = names.insert(name.to_string(), id.clone()) {
                problems.push(format!("{setup}: {id} and {other} are both named {name:?}"));
            }
        }
    }
    if template.resources_of_type("AWS::CloudWatch::Dashboard").len() != 2 {
        problems.push("expected the two documented dashboards (Lambda, Connect)".to_string());
    }
    problems
}

#[test]
fn the_documented_alarms_watch_every_function() {
    assert_no_problems("alarms", &check_alarms(&load_template()));
}

#[test]
fn a_missing_or_misconfigured_alarm_is_reported() {
    let missing = broken(|doc| {
        doc["Resources"].as_object_mut().unwrap().remove("CtrDataSyncErrorsAlarm");
    });
    assert_finds("alarms", &check_alarms(&missing), &["CtrDataSyncFunction", "no Errors alarm"]);
    let enabled = broken(|doc| {
        doc["Resources"]["HandleContactEventsThrottlesAlarm"]["Properties"]["ActionsEnabled"] = json!(true)
    });
    assert_finds("alarms", &check_alarms(&enabled), &["HandleContactEventsThrottlesAlarm", "ActionsEnabled"]);
    let loop_back = broken(|doc| {
        doc["Resources"]["RealtimeAlertErrorsAlarm"]["Properties"]["AlarmActions"] = json!([{"Ref": "AlertTopic"}]);
    });
    assert_finds("alarms", &check_alarms(&loop_back), &["RealtimeAlertErrorsAlarm", "own alarm"]);
    let screenshot = broken(|doc| {
        doc["Resources"]["HandleContactEventsErrorsAlarm"]["Properties"]["AlarmName"] =
            json!({"Fn::Sub": "SCV Lambda - HandleContactEventsFunction Errors (${CallCenterApiName})"});
    });
    assert_finds("alarms", &check_alarms(&screenshot), &["HandleContactEventsErrorsAlarm", "AlarmName"]);
    let kvs_enabled = broken(|doc| {
        doc["Resources"]["KvsTranscriberErrorsAlarm"]["Properties"]["ActionsEnabled"] = json!(true);
    });
    assert_finds("alarms", &check_alarms(&kvs_enabled), &["KvsTranscriberErrorsAlarm", "ActionsEnabled"]);
    let shared = broken(|doc| {
        doc["Resources"]["ConcurrentCallsPercentageAlarm"]["Properties"]["AlarmName"] = json!(CONCURRENT_CALLS_ALARM);
    });
    assert_finds("alarms", &check_alarms(&shared), &["ConcurrentCallsPercentageAlarm", "would collide"]);
    let duplicate = broken(|doc| {
        doc["Resources"]["CtrSyncRetryErrorsAlarm"]["Properties"]["AlarmName"] =
            json!({"Fn::Sub": "SCV Lambda CTRDataSyncFunction Errors (${CallCenterApiName})"});
    });
    assert_finds("alarms", &check_alarms(&duplicate), &["are both named"]);
}

#[test]
fn flow_invoked_functions_let_only_the_connect_instance_invoke_their_alias() {
    let template = load_template();
    let resources = template.resources();
    for function in ["InvokeTelephonyIntegrationApiFunction", "InvokeSalesforceRestApiFunction"] {
        let permission = template.resources_of_type("AWS::Lambda::Permission").into_iter().find(|id| {
            let p = &resources[id]["Properties"];
            p.get("Principal") == Some(&json!("connect.amazonaws.com"))
                && p.get("FunctionName") == Some(&json!({"Ref": format!("{function}.Alias")}))
        });
        let permission = permission.unwrap_or_else(|| panic!("{function}: no Connect permission on its alias"));
        let p = &resources[&permission]["Properties"];
        assert_eq!(p.get("SourceAccount"), Some(&json!({"Ref": "AWS::AccountId"})), "{permission}");
        assert_eq!(
            p.get("SourceArn"),
            Some(
                &json!({"Fn::Sub": "arn:${AWS::Partition}:connect:${AWS::Region}:${AWS::AccountId}:instance/${ConnectInstanceId}"})
            ),
            "{permission}"
        );
    }
    let keep_warm = resources["InvokeTelephonyIntegrationApiFunction"]
        .pointer("/Properties/Events")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|e| e.values())
        .any(|e| e.pointer("/Properties/Schedule") == Some(&json!("rate(5 minutes)")));
    assert!(keep_warm, "InvokeTelephonyIntegrationApi needs its rate(5 minutes) keep-warm schedule");
}

#[test]
fn every_bucket_is_encrypted_private_and_tls_only() {
    let template = load_template();
    for (setup, params) in setups() {
        let resolved = resolve(&template, setup, &params);
        let policies: Vec<&Value> = resolved
            .resources_of_type("AWS::S3::BucketPolicy")
            .iter()
            .map(|id| &resolved.resources[id]["Properties"])
            .collect();
        for id in resolved.resources_of_type("AWS::S3::Bucket") {
            let p = &resolved.resources[&id]["Properties"];
            assert!(
                p.pointer(
                    "/BucketEncryption/ServerSideEncryptionConfiguration/0/ServerSideEncryptionByDefault/SSEAlgorithm"
                )
                .is_some(),
                "{setup}: {id} is not encrypted"
            );
            for flag in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
                assert_eq!(
                    p.pointer(&format!("/PublicAccessBlockConfiguration/{flag}")),
                    Some(&json!(true)),
                    "{setup}: {id} {flag}"
                );
            }
            let tls_only = policies.iter().any(|policy| {
                let bucket = policy.get("Bucket").and_then(Value::as_str).unwrap_or_default();
                let arn = format!("arn:aws:s3:::{bucket}");
                let names_it = as_list(policy.pointer("/PolicyDocument/Statement"))
                    .iter()
                    .flat_map(|s| as_list(s.get("Resource")))
                    .any(|r| r == json!(arn));
                names_it
                    && as_list(policy.pointer("/PolicyDocument/Statement")).iter().any(|s| {
                        s.get("Effect") == Some(&json!("Deny"))
                            && s.pointer("/Condition/Bool/aws:SecureTransport") == Some(&json!("false"))
                    })
            });
            assert!(tls_only, "{setup}: {id} has no bucket policy denying insecure transport");
        }
    }
}

#[test]
fn both_set_ups_resolve_and_pass_what_is_given_in() {
    let template = load_template();
    let fresh = resolve(&template, "fresh deployment", &fresh_deployment());
    let existing = resolve(&template, "existing contact center", &existing_contact_center());
    for created in ["CtrStream", "ContactLensStream", "RecordingsBucket", "CtrBackupBucket", "AlertTopic"] {
        assert!(fresh.resources.contains_key(created), "a fresh deployment creates {created}");
    }
    for given in ["CtrStream", "ContactLensStream", "RecordingsBucket", "CtrBackupBucket"] {
        assert!(!existing.resources.contains_key(given), "an existing contact center brings its own {given}");
    }
    let env = existing.function_env("VoiceMailAudioProcessingFunction").unwrap();
    assert_eq!(env.get("s3_recordings_bucket").map(String::as_str), Some("acme-cc-000000000000"));
    let env = existing.function_env("CtrDataSyncFunction").unwrap();
    assert_eq!(env.get("PRIVATE_KEY_PARAM_NAME").map(String::as_str), Some("acme-scrt-private-key"));
    let mapping = &existing.resources["CtrDataSyncStreamMapping"]["Properties"]["EventSourceArn"];
    assert_eq!(mapping, &json!("arn:aws:kinesis:us-east-1:000000000000:stream/ACME_CC-000000000000-CTRStream"));
}

/// The variable names of a manifest's `[package.metadata.lambda.env]` table (`NAME = "value"` lines).
fn lambda_watch_variables(manifest: &str) -> BTreeSet<String> {
    manifest
        .lines()
        .skip_while(|line| line.trim() != "[package.metadata.lambda.env]")
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('['))
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim().to_string()))
        .filter(|name| !name.is_empty() && !name.starts_with('#'))
        .collect()
}

/// `cargo lambda watch` starts each function with its `[package.metadata.lambda.env]`: exactly the
/// variables the template gives the function, plus the local AWS settings (credentials, region,
/// `AWS_ENDPOINT_URL` and its per-service `AWS_ENDPOINT_URL_<SERVICE>`). A variable added to the
/// template and not to the manifest (or the other way round) fails here, naming both sides.
#[test]
fn each_function_s_cargo_lambda_watch_env_names_the_template_s_variables() -> Result<()> {
    const LOCAL_AWS: [&str; 4] = ["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];
    // Left out on purpose: Amazon Connect is not served at a fixed local port, so a function run by
    // `cargo lambda watch` has no instance to update (ContactLensProcessor then skips the attribute).
    const NOT_LOCAL: [&str; 1] = ["CONNECT_INSTANCE_ID"];
    let parameters = local_stack::stack::local_parameters(None, "local-bucket", "ACME_CC-scrt-jwt-auth-private-key");
    let functions = local_stack::stack::functions()?;
    assert!(functions.len() >= 12, "{functions:?}");
    let mut problems = Vec::new();
    for function in functions {
        let template: BTreeSet<String> = local_stack::stack::template_env(&function, &parameters)?
            .into_keys()
            .filter(|name| !NOT_LOCAL.contains(&name.as_str()))
            .collect();
        let path = workspace_root().join("functions").join(&function).join("Cargo.toml");
        let manifest = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
        let watch: BTreeSet<String> = lambda_watch_variables(&manifest)
            .into_iter()
            .filter(|name| !LOCAL_AWS.contains(&name.as_str()) && !name.starts_with("AWS_ENDPOINT_URL_"))
            .collect();
        if watch != template {
            problems.push(format!(
                "{function}: only in [package.metadata.lambda.env] {:?}, only in template.yaml {:?}",
                watch.difference(&template).collect::<Vec<_>>(),
                template.difference(&watch).collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the cargo-lambda-watch environments and the template disagree:\n{}",
        problems.join("\n")
    );
    Ok(())
}

#[test]
fn the_watch_env_reader_reads_only_its_table() {
    let manifest = "[package]\nname = \"x\"\n\n[package.metadata.lambda.env]\nA = \"1\"\nB_C = \"http://x=y\"\n# note\n\n[features]\nD = []\n";
    assert_eq!(lambda_watch_variables(manifest), BTreeSet::from(["A".to_string(), "B_C".to_string()]));
}

/// Every function logs JSON lines, and Lambda's application log level (`AWS_LAMBDA_LOG_LEVEL`,
/// which the functions honour before `LOG_LEVEL`) is the same level as `LOG_LEVEL`, for every
/// value of the `LogLevel` parameter.
#[test]
fn every_function_logs_json_at_the_level_log_level_names() {
    let template = load_template();
    for level in ["error", "warn", "info", "debug", "trace"] {
        let mut params = fresh_deployment();
        params.insert("LogLevel".into(), level.into());
        let resolved = resolve(&template, "fresh deployment", &params);
        for (id, _) in functions(&template) {
            let env = resolved.function_env(&id).unwrap_or_else(|e| panic!("{id}: {e:#}"));
            assert_eq!(env.get("LOG_LEVEL").map(String::as_str), Some(level), "{id}");
            let logging =
                resolved.function_property(&id, "LoggingConfig").unwrap_or_else(|| panic!("{id}: no LoggingConfig"));
            assert_eq!(logging["LogFormat"], "JSON", "{id}");
            assert_eq!(logging["ApplicationLogLevel"], level.to_uppercase(), "{id}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 14 item 4: template parity with the official stack.

/// `PermissionBoundaryARN` (the official parameter) bounds every role the stack creates: each
/// function's SAM role through `Globals.Function.PermissionsBoundary`; no function brings its own
/// `Role` (which SAM would not bound) and any explicit role has the boundary too. Empty sets none.
fn check_permission_boundary(template: &Template) -> Vec<String> {
    const ARN: &str = "arn:aws:iam::123456789012:policy/scv-boundary";
    let mut problems = Vec::new();
    if template.doc.pointer("/Parameters/PermissionBoundaryARN/Default") != Some(&json!("")) {
        problems.push("parameter PermissionBoundaryARN (default empty) is missing".to_string());
    }
    for (setup, mut params) in setups() {
        params.insert("PermissionBoundaryARN".into(), ARN.into());
        let bounded = resolve(template, setup, &params);
        let unbounded = resolve(template, setup, &setups().into_iter().find(|(s, _)| *s == setup).unwrap().1);
        for (id, _) in functions(template) {
            if bounded.function_property(&id, "PermissionsBoundary") != Some(&json!(ARN)) {
                problems.push(format!("{setup}: {id}'s role is not bounded by PermissionBoundaryARN"));
            }
            if unbounded.function_property(&id, "PermissionsBoundary").is_some() {
                problems
                    .push(format!("{setup}: {id} has a permissions boundary although PermissionBoundaryARN is empty"));
            }
            if bounded.function_property(&id, "Role").is_some() {
                problems.push(format!("{setup}: {id} sets its own Role, which the boundary would not reach"));
            }
        }
        for id in bounded.resources_of_type("AWS::IAM::Role") {
            if bounded.resources[&id].pointer("/Properties/PermissionsBoundary") != Some(&json!(ARN)) {
                problems.push(format!("{setup}: role {id} is not bounded by PermissionBoundaryARN"));
            }
        }
    }
    problems
}

#[test]
fn permission_boundary_arn_bounds_every_role() {
    assert_no_problems("permission boundary", &check_permission_boundary(&load_template()));
}

#[test]
fn a_role_without_the_boundary_is_reported() {
    let unbounded = broken(|doc| {
        doc["Globals"]["Function"].as_object_mut().unwrap().remove("PermissionsBoundary");
    });
    assert_finds(
        "permission boundary",
        &check_permission_boundary(&unbounded),
        &["CtrDataSyncFunction's role is not bounded"],
    );
    let own_role = broken(|doc| {
        doc["Resources"]["RealtimeAlertFunction"]["Properties"]["Role"] = json!("arn:aws:iam::123456789012:role/x");
    });
    assert_finds(
        "permission boundary",
        &check_permission_boundary(&own_role),
        &["RealtimeAlertFunction sets its own Role"],
    );
}

/// The Contact Lens stream the stack creates is associated with the instance by CloudFormation's
/// own `AWS::Connect::InstanceStorageConfig` (real-time contact analysis segments), the same stream
/// the consumer's mapping reads.
fn check_contact_lens_association(template: &Template) -> Vec<String> {
    let resources = template.resources();
    let configs: Vec<String> = template
        .resources_of_type("AWS::Connect::InstanceStorageConfig")
        .into_iter()
        .filter(|id| {
            resources[id].pointer("/Properties/ResourceType") == Some(&json!("REAL_TIME_CONTACT_ANALYSIS_SEGMENTS"))
        })
        .collect();
    let [id] = configs.as_slice() else {
        return vec![format!("expected one REAL_TIME_CONTACT_ANALYSIS_SEGMENTS storage config, found {configs:?}")];
    };
    let r = &resources[id];
    let mut problems = Vec::new();
    let expect = |pointer: &str, value: Value, problems: &mut Vec<String>| {
        if r.pointer(pointer) != Some(&value) {
            problems.push(format!("{id}: {pointer} is {:?}, not {value}", r.pointer(pointer)));
        }
    };
    expect("/Condition", json!("CreateContactLensStream"), &mut problems);
    expect("/Properties/StorageType", json!("KINESIS_STREAM"), &mut problems);
    expect(
        "/Properties/InstanceArn",
        json!({"Fn::Sub": "arn:${AWS::Partition}:connect:${AWS::Region}:${AWS::AccountId}:instance/${ConnectInstanceId}"}),
        &mut problems,
    );
    expect(
        "/Properties/KinesisStreamConfig/StreamArn",
        json!({"Fn::GetAtt": ["ContactLensStream", "Arn"]}),
        &mut problems,
    );
    let mapped =
        resources["ContactLensStreamMapping"].pointer("/Properties/EventSourceArn").cloned().unwrap_or_default();
    if !mapped.to_string().contains("ContactLensStream") {
        problems.push(format!("ContactLensStreamMapping reads {mapped}, not the associated stream"));
    }
    problems
}

#[test]
fn the_contact_lens_stream_is_associated_with_the_instance() {
    assert_no_problems("Contact Lens association", &check_contact_lens_association(&load_template()));
}

#[test]
fn a_missing_contact_lens_association_is_reported() {
    let none = broken(|doc| {
        doc["Resources"].as_object_mut().unwrap().remove("ContactLensStreamStorageConfig");
    });
    assert_finds(
        "Contact Lens association",
        &check_contact_lens_association(&none),
        &["REAL_TIME_CONTACT_ANALYSIS_SEGMENTS"],
    );
    let wrong = broken(|doc| {
        doc["Resources"]["ContactLensStreamStorageConfig"]["Properties"]["StorageType"] = json!("S3");
    });
    assert_finds("Contact Lens association", &check_contact_lens_association(&wrong), &["StorageType"]);
}

/// The official ServiceCloudVoiceLambdas template's parameters with the default this template must
/// have (docs/migrating.md#template-parameters): `None` where the official default is a placeholder
/// no working stack keeps (`salesforce-scrt-endpoint-url`, `service-cloud-voice-contact-center-id`:
/// required here), `""` for the voicemail bucket (official placeholder `testVoiceMailBucket`; empty
/// creates one here).
const OFFICIAL_PARAMETERS: &[(&str, Option<&str>)] = &[
    ("SalesforceOrgId", None),
    ("TelephonyIntegrationAuthPrivateKeySSMParamName", Some("telephony-integration-auth-private-key")),
    ("CallCenterApiName", Some("ServiceCloudVoice")),
    ("ScrtEndpointUrl", None),
    ("SalesforceRestApiAuthPrivateKeySSMParamName", Some("salesforce-rest-api-auth-private-key")),
    ("SalesforceRestApiAuthConsumerKeySSMParamName", Some("salesforce-rest-api-auth-consumer-key")),
    ("SalesforceRestApiAccessTokenSSMParamName", Some("salesforce-rest-api-access-token")),
    ("SalesforceRestApiAudienceSSMParamName", Some("salesforce-rest-api-audience")),
    ("SalesforceRestApiSubjectSSMParamName", Some("salesforce-rest-api-subject")),
    ("SalesforceS3BucketForVoiceMail", Some("")),
    ("ConnectInstanceId", None),
    ("PermissionBoundaryARN", Some("")),
];

/// The REST credential variables and the parameter naming each one.
const REST_PARAMETERS: &[(&str, &str)] = &[
    ("CONSUMER_KEY_PARAM_NAME", "SalesforceRestApiAuthConsumerKeySSMParamName"),
    ("ACCESS_TOKEN_PARAM_NAME", "SalesforceRestApiAccessTokenSSMParamName"),
    ("AUDIENCE", "SalesforceRestApiAudienceSSMParamName"),
    ("SUBJECT", "SalesforceRestApiSubjectSSMParamName"),
];

/// Every official parameter exists with its default, and the values an official stack was given
/// reach the variables and the IAM resources they name: the Telephony Integration API base and key,
/// the instance (as its ARN in the Connect permissions), the voicemail bucket, and the five REST
/// SSM parameter names, each function reading exactly those five and writing only the token.
fn check_official_parameters(template: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let defaults = template.parameter_defaults();
    for (name, default) in OFFICIAL_PARAMETERS {
        match defaults.get(*name) {
            None => problems.push(format!("the official parameter {name} is not a parameter")),
            Some(found) if found.as_deref() != *default => {
                problems.push(format!("parameter {name}: default {found:?}, the official one is {default:?}"))
            }
            Some(_) => {}
        }
    }
    let instance = "4defbdc5-3029-456e-9bf3-a0d168cf409c";
    let official: BTreeMap<String, String> = [
        ("CallCenterApiName", "ACME_CC"),
        ("SalesforceOrgId", "00D5g000004ABCD"),
        ("ScrtEndpointUrl", "https://acme.my.salesforce-scrt.com/telephony/v1"),
        ("TelephonyIntegrationAuthPrivateKeySSMParamName", "acme-itia-key"),
        ("ConnectInstanceId", instance),
        ("SalesforceS3BucketForVoiceMail", "acme-voicemail"),
        ("SalesforceRestApiEndpointBase", "https://acme.my.salesforce.com/services/data/v62.0"),
        ("SalesforceRestApiAuthPrivateKeySSMParamName", "acme-rest-private"),
        ("SalesforceRestApiAuthConsumerKeySSMParamName", "acme-rest-consumer"),
        ("SalesforceRestApiAccessTokenSSMParamName", "acme-rest-token"),
        ("SalesforceRestApiAudienceSSMParamName", "acme-rest-audience"),
        ("SalesforceRestApiSubjectSSMParamName", "acme-rest-subject"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let resolved = match template.resolve(&official) {
        Ok(resolved) => resolved,
        Err(e) => {
            problems.push(format!("the official parameter values do not resolve: {e:#}"));
            return problems;
        }
    };
    let ssm = |name: &str| format!("arn:aws:ssm:us-east-1:000000000000:parameter/{name}");
    let (statements, _) = statements_of(&resolved);
    for (id, _) in functions(template) {
        let env = match resolved.function_env(&id) {
            Ok(env) => env,
            Err(e) => {
                problems.push(format!("{id}: {e:#}"));
                continue;
            }
        };
        let mut expect = |variable: &str, value: &str| {
            if let Some(found) = env.get(variable)
                && found != value
            {
                problems.push(format!("{id}: {variable} is {found:?}, not the parameter's {value:?}"));
            }
        };
        expect("SCRT_ENDPOINT_BASE", "https://acme.my.salesforce-scrt.com/telephony/v1");
        expect("SCRT_PRIVATE_KEY_PARAM_NAME", "acme-itia-key");
        expect("s3_recordings_bucket", "acme-voicemail");
        expect("CONNECT_INSTANCE_ID", instance);
        let rest = env.contains_key("CONSUMER_KEY_PARAM_NAME");
        let private_key = if rest { "acme-rest-private" } else { "acme-itia-key" };
        expect("PRIVATE_KEY_PARAM_NAME", private_key);
        expect("REST_PRIVATE_KEY_PARAM_NAME", "acme-rest-private");
        for (variable, parameter) in REST_PARAMETERS {
            expect(variable, &official[*parameter]);
        }
        if !rest {
            continue;
        }
        let resources = |action: &str| -> BTreeSet<String> {
            statements
                .iter()
                .filter(|(owner, s)| owner == &id && as_list(s.get("Action")).contains(&json!(action)))
                .flat_map(|(_, s)| as_list(s.get("Resource")))
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        };
        let read: BTreeSet<String> =
            ["acme-rest-private", "acme-rest-consumer", "acme-rest-token", "acme-rest-audience"]
                .into_iter()
                .chain(["acme-rest-subject"])
                .map(ssm)
                .collect();
        if resources("ssm:GetParameters") != read {
            problems.push(format!(
                "{id}: ssm:GetParameters on {:?}, not exactly the five REST parameters",
                resources("ssm:GetParameters")
            ));
        }
        if resources("ssm:PutParameter") != BTreeSet::from([ssm("acme-rest-token")]) {
            problems.push(format!(
                "{id}: ssm:PutParameter on {:?}, not exactly the access token parameter",
                resources("ssm:PutParameter")
            ));
        }
    }
    let arn = format!("arn:aws:connect:us-east-1:000000000000:instance/{instance}");
    for id in resolved.resources_of_type("AWS::Lambda::Permission") {
        let p = &resolved.resources[&id]["Properties"];
        if p.get("Principal") == Some(&json!("connect.amazonaws.com")) && p.get("SourceArn") != Some(&json!(arn)) {
            problems.push(format!("{id}: SourceArn {:?}, not the instance {arn}", p.get("SourceArn")));
        }
    }
    problems
}

#[test]
fn the_official_parameters_are_accepted_with_their_defaults_and_reach_the_functions() {
    assert_no_problems("official parameters", &check_official_parameters(&load_template()));
}

#[test]
fn a_missing_official_parameter_or_a_wider_rest_grant_is_reported() {
    let renamed = broken(|doc| {
        let params = doc["Parameters"].as_object_mut().unwrap();
        let p = params.remove("ScrtEndpointUrl").unwrap();
        params.insert("ScrtEndpointBase".into(), p);
    });
    assert_finds("official parameters", &check_official_parameters(&renamed), &["ScrtEndpointUrl"]);
    let default = broken(|doc| {
        doc["Parameters"]["TelephonyIntegrationAuthPrivateKeySSMParamName"]["Default"] = json!("ACME-key");
    });
    assert_finds(
        "official parameters",
        &check_official_parameters(&default),
        &["TelephonyIntegrationAuthPrivateKeySSMParamName: default"],
    );
    let fixed = broken(|doc| {
        doc["Resources"]["RealtimeAlertFunction"]["Properties"]["Environment"]["Variables"]["AUDIENCE"] =
            json!({"Fn::Sub": "${CallCenterApiName}-salesforce-rest-api-audience"});
    });
    assert_finds("official parameters", &check_official_parameters(&fixed), &["RealtimeAlertFunction: AUDIENCE"]);
    let wide = broken(|doc| {
        let statements = doc["Resources"]["InvokeSalesforceRestApiFunction"]["Properties"]["Policies"][0]["Statement"]
            .as_array_mut()
            .unwrap();
        let read = statements.iter_mut().find(|s| s["Sid"] == json!("ReadRestCredentials")).unwrap();
        read["Resource"] = json!({"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/*"});
    });
    assert_finds(
        "official parameters",
        &check_official_parameters(&wide),
        &["InvokeSalesforceRestApiFunction: ssm:GetParameters"],
    );
}
