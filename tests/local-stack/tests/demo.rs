//! The demo as a test: the real InvokeTelephonyIntegrationApi binary under the local Lambda
//! runtime, every sample event, against the Salesforce emulator and moto. `make test` builds the
//! binaries first.

use local_stack::demo::{DemoOptions, run};

#[tokio::test]
async fn the_demo_runs_every_sample_event_through_the_real_binary() {
    let options = DemoOptions { report_dir: local_stack::target_dir().join("demo-test"), ..DemoOptions::default() };
    assert!(
        options.itia_binary.exists(),
        "{} is missing: run `make test` (it builds the function binaries first)",
        options.itia_binary.display()
    );
    let mut out = Vec::new();
    let report = run(&options, &mut out).await.expect("the demo runs");
    let text = String::from_utf8_lossy(&out);
    println!("{text}");
    assert!(
        report.ok(),
        "problems: {:?} {:?}",
        report.problems,
        report.steps.iter().flat_map(|s| &s.problems).collect::<Vec<_>>()
    );
    assert_eq!(report.steps.len(), 17, "9 telephony steps, the live transcript, 5 REST steps, the CTR batch and the resync");
    assert!(report.steps.iter().all(|s| s.error.is_none()));
    assert_eq!(report.voice_calls.len(), 3, "inbound, WebRTC and transfer calls");
    assert!(text.contains("All 17 steps reached Salesforce as expected"), "{text}");
    let timeline: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(options.report_dir.join("timeline.json")).expect("timeline written"),
    )
    .expect("JSON");
    assert_eq!(timeline["steps"].as_array().map(Vec::len), Some(17));
}
