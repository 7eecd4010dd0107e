//! `local_stack::stack::Stack`: the environment comes from template.yaml, services follow what the
//! function's resource needs, per-test changes win, and keys land in SSM under the names the
//! environment gives.

use std::collections::BTreeSet;

use local_stack::stack::{CALL_CENTER, Stack, functions};

#[tokio::test]
async fn every_function_gets_the_template_environment_and_only_the_services_it_needs() {
    let functions = functions().expect("template.yaml");
    assert_eq!(functions.len(), 16, "{functions:?}"); // issues 15 (kvsConsumerTrigger, kvsTranscriber), 16 (ContactDataSync), 17 (AuthKeysSSMUtil)
    let stacks = futures_util::future::join_all(functions.iter().map(|f| Stack::builder(f).start())).await;
    for (function, stack) in functions.iter().zip(stacks) {
        let stack = stack.unwrap_or_else(|e| panic!("{function}: {e:#}"));
        let template_env = stack.resolved.function_env(&stack.logical_id).expect("its environment");
        let template_names: BTreeSet<&String> = template_env.keys().collect();
        let names: BTreeSet<&String> = stack.env.keys().collect();
        assert_eq!(names, template_names, "{function}: exactly the template's variables");
        let calls_salesforce =
            stack.env.contains_key("SCRT_ENDPOINT_BASE") || stack.env.contains_key("SALESFORCE_AUTH_ENDPOINT");
        assert_eq!(stack.emulator.is_some(), calls_salesforce, "{function}");
        if let Some(base) = stack.env.get("SCRT_ENDPOINT_BASE") {
            assert_eq!(*base, stack.emulator().scrt_base(), "{function}");
        }
        for (name, value) in &stack.env {
            assert!(!value.starts_with(&format!("{CALL_CENTER}-")), "{function}: {name}={value} is not namespaced");
        }
    }
}

#[tokio::test]
async fn the_keys_are_in_ssm_where_the_environment_says() {
    let stack = Stack::builder("ctr-sync-retry").start().await.expect("stack");
    let ssm = aws_sdk_ssm::Client::new(&stack.sdk);
    let get = |name: String| {
        let ssm = ssm.clone();
        async move {
            ssm.get_parameter()
                .name(&name)
                .with_decryption(true)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .parameter()
                .and_then(|p| p.value())
                .unwrap_or_default()
                .to_string()
        }
    };
    let scrt = get(stack.env["SCRT_PRIVATE_KEY_PARAM_NAME"].clone()).await;
    assert_eq!(scrt, stack.scrt_keys.as_ref().unwrap().private_pkcs1_pem);
    let rest = get(stack.env["REST_PRIVATE_KEY_PARAM_NAME"].clone()).await;
    assert_eq!(rest, stack.rest_keys.as_ref().unwrap().private_pkcs1_pem);
    assert_eq!(get(stack.env["CONSUMER_KEY_PARAM_NAME"].clone()).await, local_stack::stack::CONSUMER_KEY);
    assert_eq!(get(stack.env["AUDIENCE"].clone()).await, local_stack::stack::AUDIENCE);
    assert_eq!(stack.env["CTR_BACKUP_S3_BUCKET"], stack.bucket());
    assert!(stack.keys_under("").await.is_empty(), "a fresh bucket");
}

#[tokio::test]
async fn per_test_changes_win_and_reach_the_process_environment() {
    let stack = Stack::builder("voicemail-packaging")
        .with_parameter("DelayBeforeRoutingVmSec", "7")
        .with_env("SCRT_DEADLINE_MS", "1234")
        .without_env("PRIVATE_KEY_PARAM_NAME")
        .start()
        .await
        .expect("stack");
    assert_eq!(stack.env["delay_before_routing_vm_sec"], "7");
    assert_eq!(stack.env["SCRT_DEADLINE_MS"], "1234");
    assert!(!stack.env.contains_key("PRIVATE_KEY_PARAM_NAME"));
    let process_env = stack.process_env();
    let last = |name: &str| process_env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(last("SCRT_DEADLINE_MS").as_deref(), Some("1234"));
    assert_eq!(last("AWS_ENDPOINT_URL"), Some(stack.moto_endpoint.clone()));
    let lookup = stack.env();
    assert_eq!(lookup("CALL_CENTER_API_NAME").as_deref(), Some(CALL_CENTER));
    assert_eq!(lookup("NOT_SET"), None);
}

#[tokio::test]
async fn the_real_binary_starts_with_the_stack_environment() {
    let stack = Stack::builder("handle-contact-events").start().await.expect("stack");
    let process = stack.spawn(std::time::Duration::from_secs(10)).await.expect("spawn");
    process.wait_ready(std::time::Duration::from_secs(10)).await.expect("reaches its first /next");
    process.shutdown().await.expect("shutdown");
    let missing =
        Stack::builder("handle-contact-events").without_env("SCRT_ENDPOINT_BASE").start().await.expect("stack");
    let process = missing.spawn(std::time::Duration::from_secs(10)).await.expect("spawn");
    let err = process.wait_ready(std::time::Duration::from_secs(10)).await.expect_err("no endpoint, no start");
    assert!(format!("{err:#}").contains("SCRT_ENDPOINT_BASE"), "{err:#}");
}
