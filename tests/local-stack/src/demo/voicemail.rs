//! Act: a voicemail (audio -> WAV in S3 -> Transcribe job -> routed VoiceCall).

use super::*;

impl AfterTheCall<'_> {
    /// A voicemail carried from its CTR to a routed VoiceCall.
    pub(super) async fn voicemail(&self, out: &mut dyn Write) -> Result<Vec<Step>> {
        let mut routing = RoutingConfig::default();
        routing
            .by_flow
            .insert("Route_Inbound_Voice".into(), RoutingAnswer { agent: Some(ROUTED_AGENT.into()), queue: None });
        routing
            .by_dialed_number
            .insert("+15555550100".into(), RoutingAnswer { agent: None, queue: Some("VoicemailQueue".into()) });
        self.emulator.set_routing(routing);
        let s3 =
            aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(self.sdk).force_path_style(true).build());
        s3.create_bucket().bucket(RECORDINGS_BUCKET).send().await.context("creating the recordings bucket")?;
        let kvs = crate::kvs::KvsServer::start(vec![crate::kvs::KvsFixture::voicemail()?]).await?;
        let with_bucket = |mut event: Value| {
            event["detail"]["bucket"]["name"] = Value::String(RECORDINGS_BUCKET.into());
            event
        };
        let mut steps = Vec::new();

        // 1. The CTR on the stream: the caller's track to WAV in S3.
        let mut env = self.env("voicemail-audio-processing")?;
        env.push(("AWS_ENDPOINT_URL_KINESIS_VIDEO".into(), kvs.endpoint()));
        let audio = self.spawn("VoiceMailAudioProcessing", "voicemail-audio-processing", env).await?;
        let ctr = read_event(&self.options.events_root.join("voicemail-audio-processing/voicemail-ctr.json"))?;
        let mut step =
            run_step(&audio, self.emulator, "VoiceMailAudioProcessing", "voicemail-ctr.json", ctr, Calls::Zero).await?;
        if step.output["batchItemFailures"].as_array().is_none_or(|f| !f.is_empty()) {
            step.problems.push(format!("voicemail-ctr.json: failures reported: {}", step.output));
        }
        let transcribe_event =
            with_bucket(read_event(&self.options.events_root.join("voicemail-transcribe/recording-created.json"))?);
        let wav_key = transcribe_event["detail"]["object"]["key"].as_str().unwrap_or_default().to_string();
        let contact = wav_key.trim_start_matches("voicemail_recordings/").trim_end_matches(".wav").to_string();
        let wav = s3.get_object().bucket(RECORDINGS_BUCKET).key(&wav_key).send().await;
        match wav {
            Ok(object) => {
                let size = object.content_length().unwrap_or(0);
                writeln!(
                    out,
                    "      s3://{RECORDINGS_BUCKET}/{wav_key}: {size} bytes of the caller's audio (8 kHz mono WAV), tagged for Transcribe"
                )?;
            }
            Err(_) => step.problems.push(format!("no WAV at {wav_key}")),
        }
        print_step(out, 1, &step)?;
        steps.push(step);
        self.finish(&audio, &mut steps);
        audio.shutdown().await?;

        // 2. The WAV lands: one Transcribe job for the contact.
        let transcribe =
            self.spawn("VoiceMailTranscribe", "voicemail-transcribe", self.env("voicemail-transcribe")?).await?;
        let mut step = run_step(
            &transcribe,
            self.emulator,
            "VoiceMailTranscribe",
            "recording-created.json",
            transcribe_event,
            Calls::Zero,
        )
        .await?;
        if step.output["status"].as_str().is_none_or(|s| !s.eq_ignore_ascii_case("started")) {
            step.problems.push(format!("recording-created.json: expected a started job, got {}", step.output));
        }
        print_step(out, 2, &step)?;
        steps.push(step);
        self.finish(&transcribe, &mut steps);
        transcribe.shutdown().await?;

        // 3. Transcribe writes the transcript (moto writes none: the demo stands in with Amazon's format).
        let transcript =
            std::fs::read(crate::workspace_root().join("tests/fixtures/voicemail/transcribe-output.json"))?;
        s3.put_object()
            .bucket(RECORDINGS_BUCKET)
            .key(format!("voicemail_transcripts/{contact}.json"))
            .body(transcript.into())
            .send()
            .await?;
        writeln!(
            out,
            "      (standing in for Amazon Transcribe, which the local AWS emulator does not run: the transcript JSON is written to voicemail_transcripts/)"
        )?;

        // 4. The transcript lands: VoiceCall, message, routing, close.
        let packaging =
            self.spawn("VoiceMailPackaging", "voicemail-packaging", self.env("voicemail-packaging")?).await?;
        let event =
            with_bucket(read_event(&self.options.events_root.join("voicemail-packaging/transcript-created.json"))?);
        let mut step = run_step(
            &packaging,
            self.emulator,
            "VoiceMailPackaging",
            "transcript-created.json",
            event.clone(),
            Calls::Some,
        )
        .await?;
        let call = self.emulator.voice_call(&contact);
        match &call {
            Some(c) => {
                if c.call_origin.as_deref() != Some("Voicemail")
                    && c.fields.get("callOrigin").and_then(Value::as_str) != Some("Voicemail")
                {
                    step.problems.push("the voicemail's VoiceCall is not marked callOrigin Voicemail".into());
                }
                if c.messages.len() != 1 || c.routing.execute_count != 1 || c.is_active_call {
                    step.problems.push(format!(
                        "expected one message, one routing and a closed call; got {} message(s), {} routing(s), active {}",
                        c.messages.len(),
                        c.routing.execute_count,
                        c.is_active_call
                    ));
                }
            }
            None => step.problems.push(format!("no VoiceCall for the voicemail {contact}")),
        }
        print_step(out, 3, &step)?;
        if let Some(message) = call.as_ref().and_then(|c| c.messages.first()) {
            writeln!(out, "      transcript  \"{}\"", message.content)?;
        }
        steps.push(step);
        // The same S3 event again changes nothing.
        let mut again = run_step(
            &packaging,
            self.emulator,
            "VoiceMailPackaging",
            "transcript-created.json (again)",
            event,
            Calls::Zero,
        )
        .await?;
        if self.emulator.voice_call(&contact).is_some_and(|c| c.messages.len() != 1 || c.routing.execute_count != 1) {
            again.problems.push("a repeated S3 event posted or routed twice".into());
        }
        print_step(out, 4, &again)?;
        steps.push(again);
        self.finish(&packaging, &mut steps);
        packaging.shutdown().await?;
        Ok(steps)
    }
}
