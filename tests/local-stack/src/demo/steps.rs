//! Running, checking and printing one invocation of the demo.

use super::*;

pub(super) fn read_event(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

pub(super) async fn invoke_step(
    function: &FunctionProcess,
    emulator: &Emulator,
    name: &str,
    path: &Path,
) -> Result<Step> {
    let event = read_event(path)?;
    let event_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    run_step(function, emulator, name, &event_name, event, Calls::One).await
}

/// How many Salesforce requests a step must make (all of them accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Calls {
    /// Exactly one (a Telephony API call).
    One,
    /// At least one (REST: the first also fetches a token).
    Some,
    /// None (keep-warm, AWS-only steps, events the function ignores).
    Zero,
}

/// One invocation, checked against `calls`.
pub(super) async fn run_step(
    function: &FunctionProcess,
    emulator: &Emulator,
    name: &str,
    event_name: &str,
    event: Value,
    calls: Calls,
) -> Result<Step> {
    let event_name = event_name.to_string();
    let params = &event["Details"]["Parameters"];
    let method = match params["methodName"].as_str() {
        Some(m) => m.to_string(),
        None if event["detail-type"] == "Scheduled Event" && name == "InvokeTelephonyIntegrationApi" => {
            "keep-warm".into()
        }
        None => event["detail-type"]
            .as_str()
            .map(str::to_string)
            .or_else(|| event["Records"].as_array().map(|r| format!("{} record(s)", r.len())))
            .unwrap_or_else(|| "event".into()),
    };
    let contact_id = params["contactId"]
        .as_str()
        .or_else(|| event["Details"]["ContactData"]["ContactId"].as_str())
        .or_else(|| event["detail"]["contactId"].as_str())
        .map(str::to_string);
    let before = emulator.requests().len();
    let started = Instant::now();
    let invocation = function.invoke(event).await?;
    let duration_ms = started.elapsed().as_millis();
    let salesforce: Vec<SalesforceCall> = emulator.requests()[before..].iter().map(SalesforceCall::from).collect();
    let (output, error) = match invocation.result {
        Ok(v) => (v, None),
        Err(e) => (Value::Null, Some(e.to_string())),
    };
    let mut problems = Vec::new();
    if let Some(e) = &error {
        problems.push(format!("{event_name}: the function failed: {e}"));
    }
    let calls = if method == "keep-warm" { Calls::Zero } else { calls };
    let statuses: Vec<u16> = salesforce.iter().map(|c| c.status).collect();
    let accepted = statuses.iter().all(|s| (200..300).contains(s));
    let ok = match calls {
        Calls::Zero => statuses.is_empty(),
        Calls::One => statuses.len() == 1 && accepted,
        Calls::Some => !statuses.is_empty() && accepted,
    };
    if !ok {
        problems.push(format!("{event_name}: expected {calls:?} accepted Salesforce request(s), saw {statuses:?}"));
    }
    if output.get("statusCode").and_then(Value::as_str) == Some("429") {
        problems.push(format!("{event_name}: Salesforce limit reached"));
    }
    Ok(Step {
        function: name.into(),
        event: event_name,
        method,
        contact_id,
        output,
        error,
        salesforce,
        duration_ms,
        problems,
    })
}

pub(super) fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

pub(super) fn print_step(out: &mut dyn Write, n: usize, step: &Step) -> Result<()> {
    let contact = step.contact_id.as_deref().map(short).unwrap_or("-");
    let answer = match &step.error {
        Some(e) => format!("ERROR {e}"),
        None => step
            .output
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
    };
    writeln!(out, "{n:>2}. {:<36} {:<24} contact {contact:<8} -> {answer}", step.event, step.method)?;
    if step.salesforce.is_empty() {
        writeln!(out, "      (no Salesforce call)  {} ms", step.duration_ms)?;
    }
    for call in &step.salesforce {
        writeln!(out, "      Salesforce: {} {} -> {}  {} ms", call.method, call.path, call.status, step.duration_ms)?;
    }
    Ok(())
}

pub(super) fn print_state(out: &mut dyn Write, calls: &[VoiceCall]) -> Result<()> {
    writeln!(out, "\nWhat Salesforce holds now:")?;
    for c in calls {
        let routing = match (&c.routing.pending_service_routing, c.routing.execute_count, c.routing.clear_count) {
            (Some(_), _, _) => "routing pending".to_string(),
            (None, 0, _) => "not routed".to_string(),
            (None, _, cleared) if cleared > 0 => "routing cleared".to_string(),
            (None, _, _) => "routed".to_string(),
        };
        writeln!(
            out,
            "  {}  {}  {:<8} {:<6} {} -> {}  {}  {} message(s)  {}{}{}",
            c.id,
            c.vendor_call_key,
            c.initiation_method.as_deref().unwrap_or("-"),
            c.call_subtype.as_deref().unwrap_or("-"),
            c.from.as_deref().unwrap_or("-"),
            c.to.as_deref().unwrap_or("-"),
            c.call_disposition,
            c.messages.len(),
            routing,
            if c.routing.reroute_count > 0 {
                format!(", rerouted {}x", c.routing.reroute_count)
            } else {
                String::new()
            },
            c.parent_voice_call_id.as_deref().map(|p| format!(", transfer of {p}")).unwrap_or_default(),
        )?;
    }
    Ok(())
}

/// Every create must have left a VoiceCall behind.
pub(super) fn check_state(steps: &[Step], calls: &[VoiceCall], problems: &mut Vec<String>) {
    for step in steps.iter().filter(|s| s.method.starts_with("create") && s.function == "InvokeTelephonyIntegrationApi")
    {
        let Some(contact) = &step.contact_id else { continue };
        if !calls.iter().any(|c| &c.vendor_call_key == contact) {
            problems.push(format!("{}: no VoiceCall for contact {contact}", step.event));
        }
    }
}

/// The function's own log lines must hold no key material and no JWT.
pub fn check_logs(lines: &[String], keys: &TestKeyPair, problems: &mut Vec<String>) {
    problems.extend(crate::secrets::secret_problems(lines, &[keys], &[]));
}
