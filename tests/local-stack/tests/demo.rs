//! The demo as a test: a call's whole life through every real function binary under the local
//! Lambda runtime, against the Salesforce emulator and the local AWS servers. `make test` builds
//! the binaries first.

use local_stack::demo::{DemoOptions, run};

#[tokio::test]
async fn the_demo_runs_every_sample_event_through_the_real_binary() {
    let options = DemoOptions { report_dir: local_stack::target_dir().join("demo-test"), ..DemoOptions::default() };
    for function in local_stack::stack::functions().expect("template.yaml") {
        let binary = options.bin(&function);
        assert!(
            binary.exists(),
            "{} is missing: run `make test` (it builds the function binaries first)",
            binary.display()
        );
    }
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
    assert_eq!(report.steps.len(), 37, "every step of the call's life (issue 15 added the Amazon Transcribe act)");
    assert!(report.steps.iter().all(|s| s.error.is_none()));
    assert_eq!(
        report.voice_calls.len(),
        7,
        "inbound, WebRTC, transfer, two abandoned calls, the rerouted call and the voicemail"
    );
    assert!(text.contains("All 37 steps reached Salesforce as expected"), "{text}");
    // The live transcript through kvsConsumerTrigger and kvsTranscriber, each track's last line included.
    assert!(text.contains("kvsConsumerTrigger -> kvsTranscriber"), "{text}");
    assert!(
        text.contains("rep     It ships tomorrow morning.") && text.contains("caller  Thank you, that helps."),
        "{text}"
    );
    let timeline: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(options.report_dir.join("timeline.json")).expect("timeline written"),
    )
    .expect("JSON");
    assert_eq!(timeline["steps"].as_array().map(Vec::len), Some(37));
}
