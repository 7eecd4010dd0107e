//! The local account every function runs against, and what each function runs on there.

use super::*;

/// What one function needs to run: its configuration and its sample events (the first one is the cold
/// invocation, the rest cycle after it).
pub(super) struct Scenario {
    pub(super) package: &'static str,
    pub(super) name: &'static str,
    pub(super) env: Vec<(String, String)>,
    pub(super) events: Vec<(String, Value)>,
    pub(super) uses_ssm: bool,
    /// Makes an event new before each invocation, for functions that skip what they already did
    /// (so every invocation measures the work, not the skip).
    pub(super) fresh: Option<fn(&mut Value)>,
}

impl Scenario {
    /// The event to send: `payload`, made new when the scenario says how.
    pub(super) fn payload(&self, payload: &Value) -> Value {
        let mut payload = payload.clone();
        if let Some(fresh) = self.fresh {
            fresh(&mut payload);
        }
        payload
    }
}

/// A new SNS `MessageId` for every record: RealtimeAlert publishes each message once (its progress
/// marker), so a repeated sample would measure the skip.
fn new_sns_message_ids(event: &mut Value) {
    if let Some(records) = event.get_mut("Records").and_then(Value::as_array_mut) {
        for record in records {
            if let Some(sns) = record.get_mut("Sns").and_then(Value::as_object_mut) {
                sns.insert("MessageId".into(), json!(uuid::Uuid::new_v4().to_string()));
            }
        }
    }
}

/// The local stack every function runs against: one Salesforce emulator (Telephony API and REST), one
/// moto, a proxy in front of each, the local Kinesis Video, Connect and Invoke API servers.
pub(super) struct Stack {
    pub(super) emulator: Emulator,
    pub(super) _moto: Moto,
    pub(super) aws: CountingProxy,
    pub(super) sf: CountingProxy,
    pub(super) sdk: aws_config::SdkConfig,
    pub(super) scrt_keys: TestKeyPair,
    pub(super) app_keys: TestKeyPair,
    pub(super) kvs: KvsServer,
    pub(super) connect: LocalConnect,
    pub(super) recorder: InvokeRecorder,
    /// Plays the live call fixture's script to kvsTranscriber.
    pub(super) transcribe: TranscribeStreamingServer,
    pub(super) http: reqwest::Client,
    pub(super) epoch: Instant,
}

impl Stack {
    pub(super) async fn start() -> Result<Stack> {
        let scrt_keys = TestKeyPair::generate()?;
        let app_keys = TestKeyPair::generate()?;
        let mut routing = RoutingConfig::default().dialed_number(DIALED, RoutingAnswer::queue("VoicemailQueue"));
        routing
            .by_flow
            .insert("Route_Inbound_Voice".into(), RoutingAnswer { agent: Some(ROUTED_AGENT.into()), queue: None });
        let config = crate::stack::account_emulator_config(&scrt_keys, &app_keys, routing);
        let emulator = Emulator::start(config).await.context("starting the Salesforce emulator")?;
        let moto = Moto::start().context("starting moto")?;
        let epoch = Instant::now();
        let aws = CountingProxy::start_with_epoch(&moto.endpoint(), epoch).await?;
        let sf = CountingProxy::start_with_epoch(&emulator.base_url(), epoch).await?;
        let sdk = aws_sdk_config(&moto.endpoint()).await;
        let kvs = KvsServer::start(vec![KvsFixture::voicemail()?]).await.context("starting local Kinesis Video")?;
        // GetMedia bodies in 16 KB pieces, a TLS record's worth: the server's 1000-byte default is for
        // the tests' piece-boundary cases, and at that size its own per-piece cost (a lock, a channel
        // hop, a chunk frame: 230 pieces a voicemail, 295 a live call) counted as the function's time,
        // the server not being behind a proxy (bench/README.md, "2026-12-05, second run").
        kvs.set_piece_size(16 * 1024);
        let connect = LocalConnect::start().await.context("starting local Connect")?;
        let recorder = InvokeRecorder::start().await.context("starting the Invoke API recorder")?;
        let live_call = KvsFixture::live_call()?;
        kvs.add_stream(live_call.clone());
        let transcribe = TranscribeStreamingServer::start(
            EndpointConfig::default().with_vocabulary("acme-products").with_vocabulary_filter("acme-profanity"),
        )
        .await
        .context("starting local Transcribe streaming")?;
        transcribe.set_script_selector(move |session| live_call.transcriber_script(&session.session_id));
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build()?;
        Ok(Stack {
            emulator,
            _moto: moto,
            aws,
            sf,
            sdk,
            scrt_keys,
            app_keys,
            kvs,
            connect,
            recorder,
            transcribe,
            http,
            epoch,
        })
    }

    /// The emulator's base URL as seen through the proxy.
    /// kvsTranscriber's environment: the template's, with the local Kinesis Video, Connect, Lambda and
    /// Transcribe streaming endpoints (HTTP/2 over TLS; the process trusts the endpoint's certificate).
    pub(super) fn transcriber_env(&self, scrt_param: &str) -> Result<Vec<(String, String)>> {
        let mut env = self.function_env("kvs-transcriber", scrt_param)?;
        let certificate = self.transcribe.certificate_file().display().to_string();
        env.extend(pairs(&[
            ("AWS_ENDPOINT_URL_KINESIS_VIDEO", &self.kvs.endpoint()),
            ("AWS_ENDPOINT_URL_CONNECT", self.connect.endpoint()),
            ("AWS_ENDPOINT_URL_LAMBDA", self.recorder.endpoint()),
            ("AWS_ENDPOINT_URL_TRANSCRIBE_STREAMING", &self.transcribe.https_endpoint()),
            ("SSL_CERT_FILE", &certificate),
        ]));
        Ok(env)
    }

    pub(super) fn sf_url(&self, direct: &str) -> String {
        direct.replacen(&self.emulator.base_url(), self.sf.endpoint(), 1)
    }

    pub(super) fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Every request both proxies saw that arrived in `[from, to)`.
    pub(super) fn requests_between(&self, from: Duration, to: Duration) -> (Vec<ProxiedRequest>, Vec<ProxiedRequest>) {
        (self.aws.requests_between(from, to), self.sf.requests_between(from, to))
    }

    /// The time the emulators were busy in `[from, to)`.
    pub(super) fn busy_between(&self, from: Duration, to: Duration) -> Duration {
        let (aws, sf) = self.requests_between(from, to);
        let intervals: Vec<_> = aws.iter().chain(sf.iter()).map(|r| (r.start, r.end.min(to))).collect();
        busy_time(&intervals)
    }

    /// SSM SecureStrings for the Telephony API key: the parameter name.
    pub(super) async fn scrt_param(&self, function: &str) -> Result<String> {
        let name = format!("bench-{function}-scrt-jwt-auth-private-key");
        put_secure_parameter(&self.sdk, &name, &self.scrt_keys.private_pkcs1_pem).await?;
        Ok(name)
    }

    /// The environment `template.yaml` gives `package`, in the bench's account: Salesforce through
    /// its proxy, the Telephony API key in `scrt_param` (empty: none), the REST credentials under
    /// names of this function only (see [`Stack::rest_credentials`]), the bench's buckets, voicemail
    /// routed at once. `LOG_LEVEL` is left to the options, `CONNECT_INSTANCE_ID` out (the processor
    /// leaves contact attributes alone here).
    pub(super) fn function_env(&self, package: &str, scrt_param: &str) -> Result<Vec<(String, String)>> {
        let mut parameters = crate::stack::local_parameters(Some(&self.emulator), RECORDINGS_BUCKET, scrt_param);
        parameters.insert("CtrBackupBucketName".into(), CTR_BUCKET.into());
        parameters.insert("DelayBeforeRoutingVmSec".into(), "0".into());
        let template_prefix = format!("{CALL_CENTER}-salesforce-rest-api-");
        Ok(crate::stack::template_env(package, &parameters)?
            .into_iter()
            .filter(|(name, _)| name != "LOG_LEVEL" && name != "CONNECT_INSTANCE_ID")
            .map(|(name, value)| match value.strip_prefix(&template_prefix) {
                Some(what) => (name, format!("bench-{package}-salesforce-rest-api-{what}")),
                None => (name, self.sf_url(&value)),
            })
            .collect())
    }

    /// The REST configuration of the official set-up, every value in SSM, under names of `package`
    /// only (so no function finds a token another one shared).
    pub(super) async fn rest_credentials(&self, package: &str) -> Result<()> {
        let p = |what: &str| format!("bench-{package}-salesforce-rest-api-{what}");
        for (name, value) in [
            (p("auth-consumer-key"), CONSUMER_KEY),
            (p("auth-private-key"), self.app_keys.private_pkcs8_pem.as_str()),
            (p("access-token"), "salesforce-rest-api-access-token"),
            (p("audience"), "https://login.salesforce.com/"),
        ] {
            put_secure_parameter(&self.sdk, &name, value).await?;
        }
        Ok(())
    }

    pub(super) async fn bucket(&self, name: &str) -> Result<()> {
        let s3 = s3_client(&self.sdk);
        if s3.head_bucket().bucket(name).send().await.is_err() {
            s3.create_bucket().bucket(name).send().await.with_context(|| format!("creating bucket {name}"))?;
        }
        Ok(())
    }

    /// Creates the VoiceCall of `contact_id` straight on the emulator (as createVoiceCall leaves it).
    pub(super) async fn voice_call(&self, contact_id: &str) -> Result<()> {
        let token = self.scrt_keys.scrt_token(ORG_ID, CALL_CENTER, 120)?;
        let body = json!({
            "callCenterApiName": CALL_CENTER,
            "vendorCallKey": contact_id,
            "to": DIALED,
            "from": "+15555550123",
            "initiationMethod": "Inbound",
            "startTime": "2026-11-21T09:14:00.000Z",
            "callSubtype": "PSTN",
            "callAttributes": "{}",
            "participants": [{"participantKey": "+15555550123", "type": "END_USER"}],
        });
        let answer = self
            .http
            .post(format!("{}/voiceCalls", self.emulator.scrt_base()))
            .bearer_auth(&token)
            .header("Telephony-Provider-Name", "amazon-connect")
            .json(&body)
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!(
                "seeding the VoiceCall of {contact_id}: {} {}",
                answer.status(),
                answer.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Routes `contact_id` through Omni-Channel (so it has a pending routing to clear).
    pub(super) async fn route(&self, contact_id: &str) -> Result<()> {
        let token = self.scrt_keys.scrt_token(ORG_ID, CALL_CENTER, 120)?;
        let body = json!({"dialedNumber": DIALED, "fallbackQueue": "Billing_Queue", "flowInputParameters": {}});
        let answer = self
            .http
            .patch(format!("{}/voiceCalls/{contact_id}/omniFlow", self.emulator.scrt_base()))
            .bearer_auth(&token)
            .header("Telephony-Provider-Name", "amazon-connect")
            .json(&body)
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!("routing {contact_id}: {} {}", answer.status(), answer.text().await.unwrap_or_default());
        }
        Ok(())
    }
}

pub(super) async fn scenario(stack: &Stack, options: &BenchOptions, package: &'static str) -> Result<Scenario> {
    let events_dir = options.events_root.join(package);
    let all = read_events(&events_dir)?;
    let pick = |names: &[&str]| -> Result<Vec<(String, Value)>> {
        names
            .iter()
            .map(|n| {
                all.iter()
                    .find(|(name, _)| name == n)
                    .cloned()
                    .ok_or_else(|| anyhow!("{} has no sample event {n}", events_dir.display()))
            })
            .collect()
    };
    let s = match package {
        "invoke-telephony-integration-api" => {
            let param = stack.scrt_param(package).await?;
            let mut events = pick(&["01-create-voice-call.json"])?;
            events.extend(all.iter().filter(|(n, _)| n != "01-create-voice-call.json").cloned());
            Scenario {
                package,
                name: "InvokeTelephonyIntegrationApi",
                env: stack.function_env(package, &param)?,
                events,
                uses_ssm: true,
                fresh: None,
            }
        }
        "invoke-salesforce-rest-api" => {
            stack.rest_credentials(package).await?;
            let env = stack.function_env(package, "")?;
            // 06 (retryCTRSync) needs the CTR backup configuration: it is CTR resync's work, measured there.
            let events = all.iter().filter(|(n, _)| !n.starts_with("06-")).cloned().collect();
            Scenario { package, name: "InvokeSalesforceRestApi", env, events, uses_ssm: true, fresh: None }
        }
        "ctr-data-sync" => {
            let param = stack.scrt_param(package).await?;
            stack.bucket(CTR_BUCKET).await?;
            let env = stack.function_env(package, &param)?;
            Scenario {
                package,
                name: "CTRDataSync",
                env,
                events: pick(&["mixed-batch.json", "demo-call-ctrs.json"])?,
                uses_ssm: true,
                fresh: None,
            }
        }
        "ctr-sync-retry" => {
            let scrt = stack.scrt_param(package).await?;
            stack.bucket(CTR_BUCKET).await?;
            stack.rest_credentials(package).await?;
            let env = stack.function_env(package, &scrt)?;
            Scenario {
                package,
                name: "CTR resync",
                env,
                events: pick(&["scheduled-event.json", "retry-ctr-sync.json"])?,
                uses_ssm: true,
                fresh: None,
            }
        }
        "contact-lens-consumer" => {
            let mut env = stack.function_env(package, "")?;
            env.extend(pairs(&[
                (
                    "CONTACT_LENS_PROCESSOR_FUNCTION_ARN",
                    "arn:aws:lambda:us-east-1:000000000000:function:contact-lens-processor",
                ),
                ("AWS_ENDPOINT_URL_LAMBDA", stack.recorder.endpoint()),
            ]));
            Scenario { package, name: "ContactLensConsumer", env, events: all, uses_ssm: false, fresh: None }
        }
        "contact-lens-processor" => {
            let param = stack.scrt_param(package).await?;
            for contact in contacts_in_kinesis(&all) {
                stack.voice_call(&contact).await?;
            }
            let mut env = stack.function_env(package, &param)?;
            env.extend(pairs(&[("AWS_ENDPOINT_URL_LAMBDA", stack.recorder.endpoint())]));
            Scenario { package, name: "ContactLensProcessor", env, events: all, uses_ssm: true, fresh: None }
        }
        "handle-contact-events" => {
            let param = stack.scrt_param(package).await?;
            for (_, event) in &all {
                if let Some(contact) = event["detail"]["contactId"].as_str() {
                    stack.voice_call(contact).await?;
                    stack.route(contact).await?;
                }
            }
            let env = stack.function_env(package, &param)?;
            Scenario { package, name: "HandleContactEvents", env, events: all, uses_ssm: true, fresh: None }
        }
        "post-call-analysis-trigger" => {
            let param = stack.scrt_param(package).await?;
            seed_post_call(stack, &events_dir, &all).await?;
            let mut env = stack.function_env(package, &param)?;
            env.extend(pairs(&[("AWS_ENDPOINT_URL_CONNECT", stack.connect.endpoint())]));
            Scenario { package, name: "PostCallAnalysisTrigger", env, events: all, uses_ssm: true, fresh: None }
        }
        "realtime-alert" => {
            stack.rest_credentials(package).await?;
            // Its progress markers (one per SNS message) live in the contact center bucket.
            stack.bucket(RECORDINGS_BUCKET).await?;
            let env = stack.function_env(package, "")?;
            Scenario {
                package,
                name: "RealtimeAlert",
                env,
                events: all,
                uses_ssm: true,
                fresh: Some(new_sns_message_ids),
            }
        }
        "voicemail-audio-processing" => {
            stack.bucket(RECORDINGS_BUCKET).await?;
            let mut env = stack.function_env(package, "")?;
            env.extend(pairs(&[("AWS_ENDPOINT_URL_KINESIS_VIDEO", &stack.kvs.endpoint())]));
            Scenario {
                package,
                name: "VoiceMailAudioProcessing",
                env,
                events: pick(&["voicemail-ctr.json", "mixed-batch.json"])?,
                uses_ssm: false,
                fresh: None,
            }
        }
        "voicemail-transcribe" => {
            seed_voicemail(stack, &all, false).await?;
            let env = stack.function_env(package, "")?;
            Scenario { package, name: "VoiceMailTranscribe", env, events: all, uses_ssm: false, fresh: None }
        }
        "voicemail-packaging" => {
            let param = stack.scrt_param(package).await?;
            seed_voicemail(stack, &all, true).await?;
            let env = stack.function_env(package, &param)?;
            let events = pick(&["transcript-created.json"])?;
            Scenario { package, name: "VoiceMailPackaging", env, events, uses_ssm: true, fresh: None }
        }
        "kvs-consumer-trigger" => {
            let mut env = stack.function_env(package, "")?;
            env.extend(pairs(&[
                ("INVOKE_KVS_TRANSCRIBER_ARN", "arn:aws:lambda:us-east-1:000000000000:function:kvs-transcriber:active"),
                ("AWS_ENDPOINT_URL_LAMBDA", stack.recorder.endpoint()),
            ]));
            Scenario { package, name: "kvsConsumerTrigger", env, events: all, uses_ssm: false, fresh: None }
        }
        "kvs-transcriber" => {
            let param = stack.scrt_param(package).await?;
            let mut contacts: Vec<&str> = all.iter().filter_map(|(_, e)| e["voiceCallId"].as_str()).collect();
            contacts.dedup();
            for contact in contacts {
                stack.voice_call(contact).await?;
            }
            let env = stack.transcriber_env(&param)?;
            // Each invocation transcribes the 8 s live call fixture (both tracks unless the event says otherwise).
            let events = pick(&["01-both-tracks.json", "02-vocabulary.json", "03-medical.json"])?;
            Scenario { package, name: "kvsTranscriber", env, events, uses_ssm: true, fresh: None }
        }
        other => bail!("no benchmark scenario for {other}"),
    };
    if s.events.is_empty() {
        bail!("{} has no sample events", events_dir.display());
    }
    Ok(s)
}

/// A Contact Lens Kinesis event: `contacts` contacts, `utterances` utterance records each, interleaved
/// as they arrive on the stream. Contact ids are unique per `run`.
pub fn contact_lens_event(run: usize, contacts: usize, utterances: usize) -> (Value, Vec<String>) {
    let ids: Vec<String> = (0..contacts).map(|c| format!("be{run:02x}{c:04x}-2d4a-4c8e-9b1f-3a5d7e9c0b21")).collect();
    let mut records = Vec::new();
    let mut sequence: u64 = 0;
    for u in 0..utterances {
        for (c, id) in ids.iter().enumerate() {
            sequence += 1;
            let role = if u % 2 == 0 { "AGENT" } else { "CUSTOMER" };
            let body = json!({
                "Version": "1.0.0",
                "Channel": "VOICE",
                "AccountId": "123456789012",
                "InstanceId": "8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a",
                "ContactId": id,
                "LanguageCode": "en-US",
                "EventType": "SEGMENTS",
                "Segments": [{"Utterance": {
                    "Id": format!("00000000-0000-0000-{run:04x}-{c:04x}{u:08x}"),
                    "TranscriptId": format!("00000000-0000-0001-{run:04x}-{c:04x}{u:08x}"),
                    "ParticipantId": role,
                    "ParticipantRole": role,
                    "PartialContent": format!("Line {} of call {}.", u + 1, c + 1),
                    "BeginOffsetMillis": 1000 + 3000 * u as u64,
                    "EndOffsetMillis": 3000 + 3000 * u as u64,
                }}],
            });
            let data = base64::engine::general_purpose::STANDARD.encode(body.to_string());
            let seq = format!("4965615284{sequence:046}");
            records.push(json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": id,
                    "sequenceNumber": seq,
                    "data": data,
                    "approximateArrivalTimestamp": 1_795_252_563.6 + sequence as f64 * 0.05,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{seq}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/ACME_CC-ContactLensConsumerRole",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/ACME_CC-123456789012-ContactLensStream",
            }));
        }
    }
    (json!({ "Records": records }), ids)
}

/// The contact ids in the records of Kinesis sample events.
pub(super) fn contacts_in_kinesis(events: &[(String, Value)]) -> Vec<String> {
    let mut contacts = Vec::new();
    for (_, event) in events {
        for record in event["Records"].as_array().into_iter().flatten() {
            let Some(data) = record["kinesis"]["data"].as_str() else { continue };
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) else { continue };
            let Ok(body) = serde_json::from_slice::<Value>(&bytes) else { continue };
            if let Some(id) = body["ContactId"].as_str()
                && !contacts.iter().any(|c| c == id)
            {
                contacts.push(id.to_string());
            }
        }
    }
    contacts
}

/// The analysis files of the fixtures in the events' bucket, the contact in local Connect and its
/// VoiceCall.
pub(super) async fn seed_post_call(stack: &Stack, events_dir: &Path, events: &[(String, Value)]) -> Result<()> {
    let fixtures = events_dir.join("fixtures");
    let s3 = s3_client(&stack.sdk);
    for (_, event) in events {
        let bucket = event["detail"]["bucket"]["name"].as_str().context("detail.bucket.name")?;
        let key = event["detail"]["object"]["key"].as_str().context("detail.object.key")?;
        stack.bucket(bucket).await?;
        let file = fixtures.join("s3").join(key);
        if let Ok(body) = std::fs::read(&file) {
            s3.put_object().bucket(bucket).key(key).body(body.clone().into()).send().await?;
            let analysis: Value = serde_json::from_slice(&body)?;
            let instance =
                analysis["CustomerMetadata"]["InstanceId"].as_str().context("CustomerMetadata.InstanceId")?;
            let contact_id =
                analysis["CustomerMetadata"]["ContactId"].as_str().context("CustomerMetadata.ContactId")?;
            let contact = read_json(&fixtures.join("describe-contact.json"))?["Contact"].clone();
            stack.connect.put_contact(instance, api_shape(contact)?)?;
            stack.voice_call(contact_id).await?;
        }
    }
    Ok(())
}

/// What VoiceMailAudioProcessing (and, for packaging, Transcribe) left for the sample voicemail: the
/// tagged recording, the transcript and the transcription job; with `route`, the VoiceCall too.
pub(super) async fn seed_voicemail(stack: &Stack, events: &[(String, Value)], packaging: bool) -> Result<()> {
    let s3 = s3_client(&stack.sdk);
    let fixture = KvsFixture::voicemail()?;
    let contact = fixture.contact_id.clone();
    for (_, event) in events {
        let Some(bucket) = event["detail"]["bucket"]["name"].as_str() else { continue };
        stack.bucket(bucket).await?;
        let recording = format!("voicemail_recordings/{contact}.wav");
        let tagging = format!(
            "vm_lang=en-US&vm_dialedNumber=%2B15555550100&vm_initTimestamp=2024-01-04T19%3A49%3A19Z\
             &vm_endTimestamp=2024-01-04T19%3A50%3A07Z&vm_duration=5&vm_recordingUrl={bucket}%2F{}",
            recording.replace('/', "%2F")
        );
        let wav = std::fs::read(crate::workspace_root().join("tests/fixtures/voicemail/customer-source.wav"))?;
        s3.put_object()
            .bucket(bucket)
            .key(&recording)
            .content_type("audio/x-wav")
            .tagging(tagging)
            .body(wav.into())
            .send()
            .await?;
        if packaging {
            let mut output =
                read_json(&crate::workspace_root().join("tests/fixtures/voicemail/transcribe-output.json"))?;
            output["jobName"] = json!(contact);
            s3.put_object()
                .bucket(bucket)
                .key(format!("voicemail_transcripts/{contact}.json"))
                .body(output.to_string().into_bytes().into())
                .send()
                .await?;
            let transcribe = aws_sdk_transcribe_client(&stack.sdk);
            if transcribe.get_transcription_job().transcription_job_name(&contact).send().await.is_err() {
                transcribe
                    .start_transcription_job()
                    .transcription_job_name(&contact)
                    .language_code(aws_sdk_transcribe::types::LanguageCode::EnUs)
                    .media_format(aws_sdk_transcribe::types::MediaFormat::Wav)
                    .media(
                        aws_sdk_transcribe::types::Media::builder()
                            .media_file_uri(format!("s3://{bucket}/{recording}"))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(aws_sdk_transcribe::Error::from)?;
            }
        }
    }
    Ok(())
}

pub(super) fn aws_sdk_transcribe_client(sdk: &aws_config::SdkConfig) -> aws_sdk_transcribe::Client {
    aws_sdk_transcribe::Client::new(sdk)
}

pub(super) fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build())
}

/// The Contact as the Connect API answers it: every `...Timestamp` as epoch seconds.
pub(super) fn api_shape(mut contact: Value) -> Result<Value> {
    pub(super) fn walk(value: &mut Value) -> Result<()> {
        if let Value::Object(map) = value {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(text) if key.ends_with("Timestamp") => *v = json!(epoch_seconds(text)?),
                    other => walk(other)?,
                }
            }
        }
        Ok(())
    }
    walk(&mut contact)?;
    Ok(contact)
}
