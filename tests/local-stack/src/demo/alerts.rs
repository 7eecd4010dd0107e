//! Act: RealtimeAlert (CloudWatch alarms -> RealtimeAlertEvent platform events).

use super::*;

impl AfterTheCall<'_> {
    pub(super) async fn alerts(&self, out: &mut dyn Write) -> Result<Vec<Step>> {
        let function = self.spawn("RealtimeAlert", "realtime-alert", self.env("realtime-alert")?).await?;
        let before = self.emulator.platform_events("RealtimeAlertEvent").len();
        let mut steps = Vec::new();
        for (name, event) in self.events("realtime-alert")? {
            let step = run_step(&function, self.emulator, "RealtimeAlert", &name, event, Calls::Some).await?;
            print_step(out, steps.len() + 1, &step)?;
            steps.push(step);
        }
        let published = self.emulator.platform_events("RealtimeAlertEvent");
        for event in &published[before..] {
            writeln!(
                out,
                "      RealtimeAlertEvent  {:<13} {}",
                event["Severity"].as_str().unwrap_or("?"),
                event["Name"].as_str().unwrap_or("?")
            )?;
        }
        let expected = steps.len();
        if published.len() - before != expected
            && let Some(step) = steps.last_mut()
        {
            step.problems.push(format!("expected {expected} platform events, found {}", published.len() - before));
        }
        self.finish(&function, &mut steps);
        function.shutdown().await?;
        Ok(steps)
    }
}
