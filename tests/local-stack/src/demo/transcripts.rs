//! Act: ContactDataSync (the day's Contact Lens transcripts back-filled into Salesforce with the
//! Connect REST API conversation upload, then their upload status).

use super::*;
use crate::demo::contact_lens::INBOUND_CONTACT;
use crate::demo::post_call::with_epoch_timestamps;

impl AfterTheCall<'_> {
    pub(super) async fn transcripts(&self, out: &mut dyn Write) -> Result<Vec<Step>> {
        let connect = crate::connect::LocalConnect::start().await?;
        let fixtures = self.options.events_root.join("post-call-analysis-trigger/fixtures");
        let described = read_event(&fixtures.join("describe-contact.json"))?;
        let instance = described["InstanceId"].as_str().unwrap_or_default().to_string();
        connect.put_contact(&instance, with_epoch_timestamps(described["Contact"].clone())?)?;
        let mut env = self.env("contact-data-sync")?;
        env.extend(connect.env());
        let function = self.spawn("ContactDataSync", "contact-data-sync", env).await?;
        let mut steps = Vec::new();
        let call = self.emulator.voice_call(INBOUND_CONTACT).map(|c| c.id).unwrap_or_default();
        // The day's call whose analysis file PostCallAnalysisTrigger read.
        let upload = serde_json::json!({
            "operation": "uploadTranscript",
            "payload": [{"contactId": INBOUND_CONTACT, "relatedRecords": [call]}],
        });
        let step =
            run_step(&function, self.emulator, "ContactDataSync", "uploadTranscript", upload, Calls::Some).await?;
        let results = step.output["conversationBulkUploadsResults"].as_array().cloned().unwrap_or_default();
        let upload_ids: Vec<String> =
            results.iter().filter_map(|r| r["uploadId"].as_str().map(str::to_string)).collect();
        let mut step = step;
        for r in &results {
            if r["status"] != "SUCCESS" {
                step.problems.push(format!(
                    "transcript of {} not uploaded: {}",
                    r["conversationIdentifier"].as_str().unwrap_or("?"),
                    r["errorDetail"].as_str().unwrap_or("no reason")
                ));
            }
        }
        print_step(out, steps.len() + 1, &step)?;
        steps.push(step);
        if !upload_ids.is_empty() {
            // The first read answers PENDING, the next the outcome.
            for _ in 0..2 {
                let status = serde_json::json!({"operation": "fetchUploadIdsStatus", "uploadIds": upload_ids});
                let step =
                    run_step(&function, self.emulator, "ContactDataSync", "fetchUploadIdsStatus", status, Calls::Some)
                        .await?;
                print_step(out, steps.len() + 1, &step)?;
                steps.push(step);
            }
            let last = steps.last().map(|s| s.output["conversationBulkUploadStatuses"].clone()).unwrap_or_default();
            for s in last.as_array().cloned().unwrap_or_default() {
                writeln!(
                    out,
                    "      upload {} of {}: {} ({} entries stored, {} failed)",
                    short(s["uploadId"].as_str().unwrap_or("?")),
                    short(s["conversationId"].as_str().unwrap_or("?")),
                    s["status"].as_str().unwrap_or("?"),
                    s["successEntryCount"],
                    s["failedEntryCount"]
                )?;
                if s["status"] != "SUCCESS"
                    && let Some(step) = steps.last_mut()
                {
                    step.problems.push(format!("upload {} is {}", s["uploadId"], s["status"]));
                }
            }
        }
        let stored = self.emulator.conversation(INBOUND_CONTACT).map(|c| c.entries.len()).unwrap_or(0);
        writeln!(out, "      the call's conversation now holds {stored} back-filled transcript entries")?;
        if stored == 0
            && let Some(step) = steps.first_mut()
        {
            step.problems.push("no transcript entry back-filled on the call".into());
        }
        self.finish(&function, &mut steps);
        function.shutdown().await?;
        Ok(steps)
    }
}
