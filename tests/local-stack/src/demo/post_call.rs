//! Act: PostCallAnalysisTrigger (Contact Lens post-call analysis -> sentiment on the VoiceCall).

use super::*;
use crate::demo::contact_lens::INBOUND_CONTACT;

impl AfterTheCall<'_> {
    pub(super) async fn post_call(&self, out: &mut dyn Write) -> Result<Vec<Step>> {
        let connect = crate::connect::LocalConnect::start().await?;
        let fixtures = self.options.events_root.join("post-call-analysis-trigger/fixtures");
        let described = read_event(&fixtures.join("describe-contact.json"))?;
        let instance = described["InstanceId"].as_str().unwrap_or_default().to_string();
        connect.put_contact(&instance, with_epoch_timestamps(described["Contact"].clone())?)?;
        let s3 =
            aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(self.sdk).force_path_style(true).build());
        let mut env = self.env("post-call-analysis-trigger")?;
        env.extend(connect.env());
        let function = self.spawn("PostCallAnalysisTrigger", "post-call-analysis-trigger", env).await?;
        let mut steps = Vec::new();
        for (name, mut event) in self.events("post-call-analysis-trigger")? {
            event["detail"]["bucket"]["name"] = Value::String(RECORDINGS_BUCKET.into());
            let key = event["detail"]["object"]["key"].as_str().unwrap_or_default().to_string();
            let redacted = key.contains("Redacted");
            if !redacted {
                let body = std::fs::read(fixtures.join("s3").join(&key))
                    .with_context(|| format!("the analysis fixture for {key}"))?;
                s3.put_object().bucket(RECORDINGS_BUCKET).key(&key).body(body.into()).send().await?;
            }
            let step = run_step(
                &function,
                self.emulator,
                "PostCallAnalysisTrigger",
                &name,
                event,
                if redacted { Calls::Zero } else { Calls::Some },
            )
            .await?;
            print_step(out, steps.len() + 1, &step)?;
            steps.push(step);
        }
        let stored = self.emulator.voice_call(INBOUND_CONTACT).map(|c| c.post_call_events.len()).unwrap_or(0);
        writeln!(out, "      the call now holds {stored} post-call sentiment events")?;
        if stored == 0
            && let Some(step) = steps.first_mut()
        {
            step.problems.push("no post-call sentiment stored on the call".into());
        }
        self.finish(&function, &mut steps);
        function.shutdown().await?;
        Ok(steps)
    }
}

/// DescribeContact answers timestamps as epoch seconds; the fixture holds them as ISO text.
pub(super) fn with_epoch_timestamps(mut contact: Value) -> Result<Value> {
    pub(super) fn walk(value: &mut Value) -> Result<()> {
        if let Value::Object(map) = value {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(text) if key.ends_with("Timestamp") => {
                        *v = serde_json::json!(crate::connect::epoch_seconds(text)?)
                    }
                    other => walk(other)?,
                }
            }
        }
        Ok(())
    }
    walk(&mut contact)?;
    Ok(contact)
}
