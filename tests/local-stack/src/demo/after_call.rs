//! After the call: what the acts that follow it share (the account, spawning a function, its events).

use super::*;

/// The sections after the call: contact events, voicemail, alarms, post-call analysis.
pub(super) struct AfterTheCall<'a> {
    pub(super) options: &'a DemoOptions,
    pub(super) emulator: &'a Emulator,
    pub(super) sdk: &'a aws_config::SdkConfig,
    pub(super) moto_endpoint: String,
    pub(super) keys: &'a TestKeyPair,
}

pub(super) const RECORDINGS_BUCKET: &str = "acme-cc-recordings";

impl AfterTheCall<'_> {
    /// The function's environment from the template, plus the local AWS settings.
    pub(super) fn env(&self, package: &str) -> Result<Vec<(String, String)>> {
        Ok(aws_env(&self.moto_endpoint).into_iter().chain(function_env(self.emulator, package)?).collect())
    }

    pub(super) async fn spawn(&self, name: &str, package: &str, env: Vec<(String, String)>) -> Result<FunctionProcess> {
        let function = FunctionProcess::spawn(
            FunctionSpec::new(name, self.options.bin(package)).with_envs(env).with_timeout(Duration::from_secs(60)),
        )
        .await?;
        function.wait_ready(Duration::from_secs(10)).await.with_context(|| format!("{name} did not start"))?;
        Ok(function)
    }

    pub(super) fn events(&self, dir: &str) -> Result<Vec<(String, Value)>> {
        event_files(&self.options.events_root.join(dir))?
            .into_iter()
            .map(|p| Ok((p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), read_event(&p)?)))
            .collect()
    }

    pub(super) fn finish(&self, function: &FunctionProcess, steps: &mut [Step]) {
        let mut problems = Vec::new();
        check_logs(&function.logs(), self.keys, &mut problems);
        if let Some(step) = steps.last_mut() {
            step.problems.extend(problems);
        }
    }
}
