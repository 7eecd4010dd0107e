//! Act: HandleContactEvents (calls that hung up before reaching a rep, an expired preferred-agent step).

use super::*;

impl AfterTheCall<'_> {
    /// Calls that were being routed when the caller hung up, and a transfer whose preferred-agent
    /// step expired: created and routed first through InvokeTelephonyIntegrationApi.
    pub(super) async fn contact_events(&self, out: &mut dyn Write) -> Result<Vec<Step>> {
        let itia = self
            .spawn(
                "InvokeTelephonyIntegrationApi",
                "invoke-telephony-integration-api",
                self.env("invoke-telephony-integration-api")?,
            )
            .await?;
        let events = self.events("handle-contact-events")?;
        let flow_dir = self.options.events_root.join("invoke-telephony-integration-api");
        for (name, event) in
            events.iter().filter(|(n, _)| n.starts_with("01") || n.starts_with("02") || n.starts_with("03"))
        {
            let contact = event["detail"]["contactId"].as_str().unwrap_or_default().to_string();
            for sample in ["01-create-voice-call.json", "02-execute-omni-flow.json"] {
                let mut flow = read_event(&flow_dir.join(sample))?;
                flow["Details"]["ContactData"]["ContactId"] = Value::String(contact.clone());
                let result = itia.invoke(flow).await?.result;
                if let Err(e) = result {
                    anyhow::bail!("setting up {name}: {sample} for {contact} failed: {e}");
                }
            }
        }
        itia.shutdown().await?;
        writeln!(out, "      (three calls created and routed first, so each has a PendingServiceRouting)")?;

        let function =
            self.spawn("HandleContactEvents", "handle-contact-events", self.env("handle-contact-events")?).await?;
        let mut steps = Vec::new();
        for (name, event) in events {
            let contact = event["detail"]["contactId"].as_str().unwrap_or_default().to_string();
            let acts = name.starts_with("01") || name.starts_with("02") || name.starts_with("03");
            let mut step = run_step(
                &function,
                self.emulator,
                "HandleContactEvents",
                &name,
                event,
                if acts { Calls::One } else { Calls::Zero },
            )
            .await?;
            let call = self.emulator.voice_call(&contact);
            if name.starts_with("01") || name.starts_with("02") {
                if call.as_ref().is_none_or(|c| c.routing.pending_service_routing.is_some()) {
                    step.problems.push(format!("{name}: the abandoned call's PendingServiceRouting is still there"));
                }
            } else if name.starts_with("03") && call.as_ref().is_none_or(|c| c.routing.reroute_count != 1) {
                step.problems.push(format!("{name}: the call was not rerouted once"));
            }
            print_step(out, steps.len() + 1, &step)?;
            steps.push(step);
        }
        self.finish(&function, &mut steps);
        function.shutdown().await?;
        Ok(steps)
    }
}
