//! [`Stack`]: everything one function needs to run locally, started by one builder and configured
//! from `template.yaml`.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use local_stack::stack::Stack;
//! let stack = Stack::builder("ctr-data-sync").with_env("CTR_SYNC_CONCURRENCY", "10").start().await?;
//! let env = stack.env(); // `&env` is a `&dyn scv_shared::config::Env`
//! # let _ = env; Ok(()) }
//! ```
//!
//! [`StackBuilder::start`] finds the function's resource in the template (the one whose
//! `Metadata.BuildProperties.Binary` is the package), looks at what it needs and starts only that:
//!
//! | the template's function has | the stack starts |
//! |---|---|
//! | `SCRT_ENDPOINT_BASE` | the Salesforce emulator, a Telephony Integration API key pair with the private key in SSM |
//! | `SALESFORCE_AUTH_ENDPOINT` | the Salesforce emulator, a connected-app key pair; consumer key, private key, access-token placeholder and audience in SSM |
//! | a policy with `s3:` actions | one fresh bucket (both `SalesforceS3BucketForVoiceMail` and `CtrBackupBucketName`) |
//! | a policy with `kinesisvideo:` actions | the local Kinesis Video endpoint with the voicemail fixture |
//! | a policy with `connect:` actions | the local Amazon Connect endpoint |
//! | a policy with `lambda:InvokeFunction` | the Invoke recorder |
//! | a policy with `transcribe:StartStreamTranscription` | the local Amazon Transcribe streaming endpoint |
//!
//! moto is always there ([`Moto::shared`]: one server per test process). The template is then
//! resolved with its parameters pointing at these (the "existing contact center" set-up: the stack's
//! bucket, its key parameter, the emulator's URLs) and the function's environment is
//! [`Resolved::function_env`], with the SSM names the template derives from `CallCenterApiName`
//! namespaced per stack so parallel tests sharing moto never read each other's keys. Per-test
//! changes come last: [`StackBuilder::with_env`], [`StackBuilder::without_env`],
//! [`StackBuilder::with_parameter`], [`StackBuilder::emulator`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail};
use aws_config::SdkConfig;
use serde_json::Value;
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, EmulatorConfig};

use crate::connect::LocalConnect;
use crate::invoke_recorder::InvokeRecorder;
use crate::kvs::{KvsFixture, KvsServer};
use crate::moto::{Moto, aws_env, aws_sdk_config, put_secure_parameter};
use crate::runtime::{FunctionProcess, FunctionSpec, binary_path};
use crate::template::{ACCOUNT_ID, REGION, Resolved, Template};
use crate::transcribe_streaming::{EndpointConfig, TranscribeStreamingServer};

/// The Salesforce org of every local stack (the JWT `iss` of the Telephony Integration API).
pub const ORG_ID: &str = "00DXX0000000001";
/// The call center of every local stack (`CallCenterApiName`).
pub const CALL_CENTER: &str = "ACME_CC";
/// The connected app's consumer key (REST functions).
pub const CONSUMER_KEY: &str = "3MVG9-acme-connected-app-consumer-key";
/// The Salesforce user the REST functions act as (`SalesforceRestApiSubjectSSMParamName`, given as the username itself).
pub const USERNAME: &str = "integration@acme.example";
/// The JWT audience the REST functions read from SSM.
pub const AUDIENCE: &str = "https://login.salesforce.com/";
/// What the access-token parameter holds before the first token is shared.
pub const ACCESS_TOKEN_PLACEHOLDER: &str = "salesforce-rest-api-access-token";
/// The Amazon Connect instance of every local stack (`ConnectInstanceId`).
pub const CONNECT_INSTANCE_ID: &str = "8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a";

/// The project's template, read once per process.
static TEMPLATE: OnceLock<Result<Template, String>> = OnceLock::new();

/// The project's `template.yaml`, parsed once per process.
pub fn template() -> Result<&'static Template> {
    match TEMPLATE.get_or_init(|| Template::load().map_err(|e| format!("{e:#}"))) {
        Ok(template) => Ok(template),
        Err(e) => Err(anyhow!("{e}")),
    }
}

/// The template's logical id of the function built from package `function`.
pub fn logical_id(template: &Template, function: &str) -> Result<String> {
    let resources = template.resources();
    let ids: Vec<String> = template
        .resources_of_type("AWS::Serverless::Function")
        .into_iter()
        .filter(|id| {
            resources[id].pointer("/Metadata/BuildProperties/Binary").and_then(Value::as_str) == Some(function)
        })
        .collect();
    match ids.as_slice() {
        [id] => Ok(id.clone()),
        [] => bail!("template.yaml has no AWS::Serverless::Function built from {function}"),
        _ => bail!("template.yaml has several functions built from {function}: {ids:?}"),
    }
}

/// The packages of every function in the template, in template order.
pub fn functions() -> Result<Vec<String>> {
    let template = template()?;
    let resources = template.resources();
    Ok(template
        .resources_of_type("AWS::Serverless::Function")
        .into_iter()
        .filter_map(|id| {
            resources[&id].pointer("/Metadata/BuildProperties/Binary").and_then(Value::as_str).map(str::to_string)
        })
        .collect())
}

/// `events/<function>/<name>` as JSON.
pub fn load_event(function: &str, name: &str) -> Result<Value> {
    let path = events_dir(function).join(name);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// `events/<function>/`.
pub fn events_dir(function: &str) -> PathBuf {
    crate::workspace_root().join("events").join(function)
}

/// The sample event files of `function` (`*.json` under `events/<function>/`), sorted.
pub fn event_names(function: &str) -> Result<Vec<String>> {
    let dir = events_dir(function);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    Ok(names)
}

/// A Lambda `Context` for an invocation that may run `budget` from now, with a fresh request id.
pub fn context(budget: Duration) -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    context.request_id = format!("req-{}", uuid::Uuid::new_v4().simple());
    let deadline = SystemTime::now() + budget;
    context.deadline =
        u64::try_from(deadline.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(u64::MAX);
    context
}

/// Captures the log lines of this test process at DEBUG (see `scv_shared::logging::capture`): the
/// function's `category` and its crate (`function` with `_` for `-`).
pub fn capture_logs(function: &str, category: &'static str) -> scv_shared::logging::CapturedLogs {
    let own: &'static str = Box::leak(function.replace('-', "_").into_boxed_str());
    scv_shared::logging::capture(category, &[own], scv_shared::logging::LogLevel::Debug)
}

/// The captured log lines (parsed as JSON) that mention `needle`; panics on a line that is not JSON.
pub fn lines_with(logs: &scv_shared::logging::CapturedLogs, needle: &str) -> Vec<Value> {
    logs.lines()
        .iter()
        .filter(|l| l.contains(needle))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect()
}

type EmulatorTweak = Box<dyn FnOnce(&mut EmulatorConfig) + Send>;

/// Builds a [`Stack`]; see the module documentation.
pub struct StackBuilder {
    function: String,
    set: Vec<(String, String)>,
    unset: Vec<String>,
    parameters: Vec<(String, String)>,
    emulator_tweaks: Vec<EmulatorTweak>,
    kvs_fixtures: Option<Vec<KvsFixture>>,
    category: Option<&'static str>,
    invoke_endpoint: bool,
}

impl StackBuilder {
    /// Sets (or replaces) one variable of the function's environment, after the template's.
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.unset.retain(|n| *n != name);
        self.set.push((name, value.into()));
        self
    }

    /// Removes one variable from the function's environment.
    pub fn without_env(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.set.retain(|(n, _)| *n != name);
        self.unset.push(name);
        self
    }

    /// Gives a template parameter a value (after the stack's own, e.g. `DelayBeforeRoutingVmSec`).
    pub fn with_parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.push((name.into(), value.into()));
        self
    }

    /// Changes the emulator's configuration before it starts (routing, REST settings...). Starts the
    /// emulator even if the function would not need it.
    pub fn emulator(mut self, tweak: impl FnOnce(&mut EmulatorConfig) + Send + 'static) -> Self {
        self.emulator_tweaks.push(Box::new(tweak));
        self
    }

    /// The streams the local Kinesis Video endpoint serves (default: the voicemail fixture).
    pub fn kvs_fixtures(mut self, fixtures: Vec<KvsFixture>) -> Self {
        self.kvs_fixtures = Some(fixtures);
        self
    }

    /// Starts the Invoke recorder even if the template's function invokes no function (a test of
    /// the official wiring, where it invokes InvokeTelephonyIntegrationApi or InvokeSalesforceRestApi).
    pub fn with_invoke_endpoint(mut self) -> Self {
        self.invoke_endpoint = true;
        self
    }

    /// Captures this process's log lines of the function (its `CATEGORY`) into [`Stack::logs`].
    pub fn capture_logs(mut self, category: &'static str) -> Self {
        self.category = Some(category);
        self
    }

    /// Starts what the function needs and derives its environment.
    pub async fn start(self) -> Result<Stack> {
        let logs = self.category.map(|category| capture_logs(&self.function, category));
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let bucket_name = format!("acme-cc-{}", &unique[..12]);
        let scrt_param = format!("test-{unique}-scrt-jwt-auth-private-key");
        let ssm_prefix = format!("test-{unique}");

        // First pass, with placeholders: what does the function need?
        let mut placeholder = local_parameters(None, &bucket_name, &scrt_param);
        placeholder.extend(self.parameters.iter().cloned());
        let function = self.function.clone();
        let (template, id, draft_env, policies) = off_the_workers(move || {
            let template = template()?;
            let id = logical_id(template, &function)?;
            let draft = template.resolve(&placeholder).context("resolving template.yaml")?;
            let draft_env = draft.function_env(&id)?;
            let policies = draft.function_property(&id, "Policies").map(Value::to_string).unwrap_or_default();
            Ok((template, id, draft_env, policies))
        })
        .await?;
        let needs_scrt = draft_env.contains_key("SCRT_ENDPOINT_BASE");
        let needs_rest = draft_env.contains_key("SALESFORCE_AUTH_ENDPOINT");
        let needs_bucket = policies.contains("\"s3:") || policies.contains("[\"s3:");
        let needs_kvs = policies.contains("kinesisvideo:");
        let needs_connect = policies.contains("connect:");
        let needs_recorder = policies.contains("lambda:InvokeFunction") || self.invoke_endpoint;
        let needs_transcribe = policies.contains("transcribe:StartStreamTranscription");

        let moto =
            off_the_workers(|| Moto::shared().context("moto server (run `make test`, which installs it)")).await?;
        let moto_endpoint = moto.endpoint();
        let sdk = aws_sdk_config(&moto_endpoint).await;
        let s3 = scv_shared::aws::s3_client(&sdk);

        let (scrt_keys, rest_keys) = off_the_workers(move || {
            let scrt_keys = if needs_scrt { Some(TestKeyPair::generate().context("SCRT key pair")?) } else { None };
            let rest_keys = if needs_rest { Some(TestKeyPair::generate().context("REST key pair")?) } else { None };
            Ok((scrt_keys, rest_keys))
        })
        .await?;
        let emulator = if needs_scrt || needs_rest || !self.emulator_tweaks.is_empty() {
            let mut config = EmulatorConfig::new(ORG_ID, CALL_CENTER);
            if let Some(keys) = &scrt_keys {
                config.scrt_public_keys = vec![keys.public_pem.clone()];
            }
            if let Some(keys) = &rest_keys {
                config.rest.consumer_key = CONSUMER_KEY.into();
                config.rest.connected_app_public_keys = vec![keys.public_pem.clone()];
                config.rest.usernames = vec![USERNAME.into()];
            }
            for tweak in self.emulator_tweaks {
                tweak(&mut config);
            }
            Some(Emulator::start(config).await.context("Salesforce emulator")?)
        } else {
            None
        };
        let bucket = if needs_bucket {
            s3.create_bucket().bucket(&bucket_name).send().await.with_context(|| format!("bucket {bucket_name}"))?;
            Some(bucket_name.clone())
        } else {
            None
        };
        let kvs = if needs_kvs {
            let fixtures = match self.kvs_fixtures {
                Some(fixtures) => fixtures,
                None => vec![KvsFixture::voicemail().context("the voicemail fixture")?],
            };
            Some(KvsServer::start(fixtures).await.context("local Kinesis Video")?)
        } else {
            None
        };
        let connect = if needs_connect { Some(LocalConnect::start().await.context("local Connect")?) } else { None };
        let recorder =
            if needs_recorder { Some(InvokeRecorder::start().await.context("Invoke recorder")?) } else { None };
        let transcribe = if needs_transcribe {
            Some(
                TranscribeStreamingServer::start(EndpointConfig::default())
                    .await
                    .context("local Transcribe streaming")?,
            )
        } else {
            None
        };

        // Second pass, pointing at what runs.
        let mut values = local_parameters(emulator.as_ref(), &bucket_name, &scrt_param);
        values.extend(self.parameters.iter().cloned());
        let (resolved, mut env, id) = off_the_workers(move || {
            let resolved = template.resolve(&values).context("resolving template.yaml")?;
            let env = resolved.function_env(&id)?;
            Ok((resolved, env, id))
        })
        .await?;
        let template_prefix = format!("{CALL_CENTER}-salesforce-rest-api-");
        for value in env.values_mut() {
            if let Some(rest) = value.strip_prefix(&template_prefix) {
                *value = format!("{ssm_prefix}-salesforce-rest-api-{rest}");
            }
        }
        if let Some(keys) = &scrt_keys {
            put_secure_parameter(&sdk, &scrt_param, &keys.private_pkcs1_pem).await?;
        }
        if let Some(keys) = &rest_keys {
            let name = |what: &str| format!("{ssm_prefix}-salesforce-rest-api-{what}");
            for (what, value) in [
                ("auth-consumer-key", CONSUMER_KEY),
                ("auth-private-key", keys.private_pkcs1_pem.as_str()),
                ("access-token", ACCESS_TOKEN_PLACEHOLDER),
                ("audience", AUDIENCE),
            ] {
                put_secure_parameter(&sdk, &name(what), value).await?;
            }
        }
        for name in &self.unset {
            env.remove(name);
        }
        for (name, value) in self.set {
            env.insert(name, value);
        }
        let name = resolved.function_property(&id, "FunctionName").and_then(Value::as_str).unwrap_or(&id).to_string();
        Ok(Stack {
            function: self.function,
            logical_id: id,
            name,
            resolved,
            env,
            moto_endpoint,
            sdk,
            s3,
            emulator,
            scrt_keys,
            rest_keys,
            scrt_param: needs_scrt.then_some(scrt_param),
            ssm_prefix,
            bucket,
            kvs,
            connect,
            recorder,
            transcribe,
            logs,
        })
    }
}

/// Runs `work` (CPU-bound or blocking: resolving the template takes hundreds of milliseconds in a
/// debug build, the shared moto's first start seconds) on tokio's blocking pool. On the async workers
/// it would stall what else they serve: the local Runtime API of the functions already running and
/// the reading of their logs, so a function answering in time was seen answering late (the fault
/// test's flow-facing cells, four stacks starting at once).
async fn off_the_workers<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.context("the stack's start: a blocking step panicked")?
}

/// The template parameters of a local account: an existing contact center (`CallCenterApiName`
/// ACME_CC) whose Salesforce is `salesforce` (an unreachable placeholder when `None`), whose buckets
/// are both `bucket`, whose Telephony Integration API key is SSM parameter `scrt_param` (empty:
/// `ACME_CC-scrt-jwt-auth-private-key`), whose REST credentials are the five
/// `ACME_CC-salesforce-rest-api-*` parameters (the subject is the username itself), with LOG_LEVEL
/// debug. Change a value by inserting it.
pub fn local_parameters(salesforce: Option<&Emulator>, bucket: &str, scrt_param: &str) -> BTreeMap<String, String> {
    let (scrt, token, rest_base) = match salesforce {
        Some(emulator) => (emulator.scrt_base(), emulator.token_url(), emulator.rest_base()),
        None => (
            "http://127.0.0.1:9/telephony/v1".to_string(),
            "http://127.0.0.1:9/services/oauth2/token".to_string(),
            "http://127.0.0.1:9/services/data/v62.0".to_string(),
        ),
    };
    let stream = |name: &str| format!("arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/{CALL_CENTER}-{ACCOUNT_ID}-{name}");
    let scrt_param =
        if scrt_param.is_empty() { format!("{CALL_CENTER}-scrt-jwt-auth-private-key") } else { scrt_param.to_string() };
    let rest = |what: &str| format!("{CALL_CENTER}-salesforce-rest-api-{what}");
    [
        ("CallCenterApiName", CALL_CENTER.to_string()),
        ("SalesforceOrgId", ORG_ID.to_string()),
        ("ScrtEndpointUrl", scrt),
        ("TelephonyIntegrationAuthPrivateKeySSMParamName", scrt_param),
        ("ConnectInstanceId", CONNECT_INSTANCE_ID.to_string()),
        ("SalesforceAuthEndpoint", token),
        ("SalesforceRestApiEndpointBase", rest_base),
        ("SalesforceRestApiSubjectSSMParamName", USERNAME.to_string()),
        ("SalesforceRestApiAuthConsumerKeySSMParamName", rest("auth-consumer-key")),
        ("SalesforceRestApiAuthPrivateKeySSMParamName", rest("auth-private-key")),
        ("SalesforceRestApiAccessTokenSSMParamName", rest("access-token")),
        ("SalesforceRestApiAudienceSSMParamName", rest("audience")),
        ("CtrStreamArn", stream("CTRStream")),
        ("ContactLensStreamArn", stream("ContactLensStream")),
        ("SalesforceS3BucketForVoiceMail", bucket.to_string()),
        ("CtrBackupBucketName", bucket.to_string()),
        ("LogLevel", "debug".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The environment `template.yaml` gives the function built from package `function`, resolved with
/// `parameters` (see [`local_parameters`]).
pub fn template_env(function: &str, parameters: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    let template = template()?;
    let id = logical_id(template, function)?;
    template.resolve(parameters).context("resolving template.yaml")?.function_env(&id)
}

/// One function's local stack: see the module documentation.
pub struct Stack {
    /// The package (and binary) name, e.g. `ctr-data-sync`.
    pub function: String,
    /// The template's logical id, e.g. `CtrDataSyncFunction`.
    pub logical_id: String,
    /// The resolved `FunctionName` (e.g. `ACME_CC-CTRDataSyncFunction`).
    pub name: String,
    /// The template resolved for this stack.
    pub resolved: Resolved,
    /// The function's environment: the template's, then the test's changes.
    pub env: BTreeMap<String, String>,
    /// moto's endpoint.
    pub moto_endpoint: String,
    /// SDK configuration for moto.
    pub sdk: SdkConfig,
    /// An S3 client on moto (path-style).
    pub s3: aws_sdk_s3::Client,
    /// The Salesforce emulator, when the function calls Salesforce.
    pub emulator: Option<Emulator>,
    /// The Telephony Integration API key pair (private key in SSM).
    pub scrt_keys: Option<TestKeyPair>,
    /// The connected app's key pair (private key in SSM).
    pub rest_keys: Option<TestKeyPair>,
    /// The SSM parameter holding the Telephony Integration API private key.
    pub scrt_param: Option<String>,
    /// What replaces `<CallCenterApiName>` in the REST functions' SSM names.
    pub ssm_prefix: String,
    /// The stack's bucket, when the function uses S3.
    pub bucket: Option<String>,
    /// The local Kinesis Video endpoint, when the function reads Kinesis Video.
    pub kvs: Option<KvsServer>,
    /// The local Amazon Connect endpoint, when the function calls Connect.
    pub connect: Option<LocalConnect>,
    /// The Invoke recorder, when the function invokes a function.
    pub recorder: Option<InvokeRecorder>,
    /// The local Amazon Transcribe streaming endpoint, when the function streams audio to Transcribe.
    pub transcribe: Option<TranscribeStreamingServer>,
    /// This process's captured log lines, when asked for ([`StackBuilder::capture_logs`]).
    pub logs: Option<scv_shared::logging::CapturedLogs>,
}

impl Stack {
    /// A builder for the function built from package `function` (e.g. `"ctr-data-sync"`).
    pub fn builder(function: impl Into<String>) -> StackBuilder {
        StackBuilder {
            function: function.into(),
            set: Vec::new(),
            unset: Vec::new(),
            parameters: Vec::new(),
            emulator_tweaks: Vec::new(),
            kvs_fixtures: None,
            category: None,
            invoke_endpoint: false,
        }
    }

    /// The function's environment as a lookup: `&stack.env()` is a `&dyn scv_shared::config::Env`.
    pub fn env(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |name: &str| self.env.get(name).cloned()
    }

    /// The Salesforce emulator; panics if this function's stack has none.
    pub fn emulator(&self) -> &Emulator {
        match &self.emulator {
            Some(emulator) => emulator,
            None => panic!("{} calls no Salesforce API: its stack has no emulator", self.function),
        }
    }

    /// The stack's bucket; panics if the function uses no S3.
    pub fn bucket(&self) -> &str {
        match &self.bucket {
            Some(bucket) => bucket,
            None => panic!("{} uses no S3 bucket", self.function),
        }
    }

    /// The local Kinesis Video endpoint; panics if the function reads none.
    pub fn kvs(&self) -> &KvsServer {
        match &self.kvs {
            Some(kvs) => kvs,
            None => panic!("{} reads no Kinesis Video stream", self.function),
        }
    }

    /// The local Connect endpoint; panics if the function calls none.
    pub fn connect(&self) -> &LocalConnect {
        match &self.connect {
            Some(connect) => connect,
            None => panic!("{} calls no Amazon Connect API", self.function),
        }
    }

    /// The Invoke recorder; panics if the function invokes no function.
    pub fn recorder(&self) -> &InvokeRecorder {
        match &self.recorder {
            Some(recorder) => recorder,
            None => panic!("{} invokes no function", self.function),
        }
    }

    /// The local Transcribe streaming endpoint; panics if the function streams no audio to Transcribe.
    pub fn transcribe(&self) -> &TranscribeStreamingServer {
        match &self.transcribe {
            Some(transcribe) => transcribe,
            None => panic!("{} streams no audio to Amazon Transcribe", self.function),
        }
    }

    /// The captured log lines; panics unless the builder was asked to capture them.
    pub fn logs(&self) -> &scv_shared::logging::CapturedLogs {
        match &self.logs {
            Some(logs) => logs,
            None => panic!("the stack of {} captures no logs: call capture_logs on its builder", self.function),
        }
    }

    /// SDK configuration for a local endpoint other than moto (the Invoke recorder, Connect...).
    pub async fn sdk_for(&self, endpoint: &str) -> SdkConfig {
        aws_sdk_config(endpoint).await
    }

    /// Every key pair of the stack (for the secrets check).
    pub fn key_pairs(&self) -> Vec<&TestKeyPair> {
        self.scrt_keys.iter().chain(self.rest_keys.iter()).collect()
    }

    /// Fails if a captured log line holds a PEM header, a JWT or a line of one of the stack's
    /// private keys (see [`crate::secrets`]).
    pub fn assert_logs_clean(&self) {
        self.assert_logs_clean_of(&[]);
    }

    /// [`Stack::assert_logs_clean`], and no line may hold one of `extra` either (an access token
    /// prefix, transcript text).
    pub fn assert_logs_clean_of(&self, extra: &[&str]) {
        crate::secrets::assert_no_secrets(&self.logs().lines(), &self.key_pairs(), extra);
    }

    /// `events/<function>/<name>` as JSON; panics if it is missing or not JSON.
    pub fn event(&self, name: &str) -> Value {
        load_event(&self.function, name).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// The sample event files of the function.
    pub fn event_names(&self) -> Vec<String> {
        event_names(&self.function).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Every object key in the stack's bucket under `prefix`; panics if S3 does not answer.
    pub async fn keys_under(&self, prefix: &str) -> Vec<String> {
        self.try_keys_under(prefix).await.unwrap_or_else(|e| panic!("listing {prefix:?}: {e:#}"))
    }

    /// Every object key in the stack's bucket under `prefix`.
    pub async fn try_keys_under(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .s3
                .list_objects_v2()
                .bucket(self.bucket())
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .context("ListObjectsV2")?;
            keys.extend(out.contents().iter().filter_map(|o| o.key().map(str::to_string)));
            match out.next_continuation_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        Ok(keys)
    }

    /// The body of object `key` of the stack's bucket as text (lossy UTF-8), `None` if it is not there.
    pub async fn object(&self, key: &str) -> Option<String> {
        self.object_bytes(key).await.map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// The body of object `key` of the stack's bucket, `None` if it is not there.
    pub async fn object_bytes(&self, key: &str) -> Option<Vec<u8>> {
        let out = self.s3.get_object().bucket(self.bucket()).key(key).send().await.ok()?;
        Some(out.body.collect().await.ok()?.into_bytes().to_vec())
    }

    /// Stores `body` as object `key` of the stack's bucket.
    pub async fn put_object(&self, key: &str, body: impl Into<Vec<u8>>) -> Result<()> {
        self.s3
            .put_object()
            .bucket(self.bucket())
            .key(key)
            .body(body.into().into())
            .send()
            .await
            .with_context(|| format!("PutObject {key}"))?;
        Ok(())
    }

    /// The environment the real binary runs with: the function's, plus the local stack's AWS settings
    /// and endpoints (moto, and the Kinesis Video, Connect and Lambda endpoints when running). The
    /// function's own variables come last, so a test's `AWS_ENDPOINT_URL_*` wins.
    pub fn process_env(&self) -> Vec<(String, String)> {
        let mut env = aws_env(&self.moto_endpoint);
        if let Some(kvs) = &self.kvs {
            env.push(("AWS_ENDPOINT_URL_KINESIS_VIDEO".into(), kvs.endpoint()));
        }
        if let Some(connect) = &self.connect {
            env.extend(connect.env());
        }
        if let Some(recorder) = &self.recorder {
            env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), recorder.endpoint().to_string()));
        }
        if let Some(transcribe) = &self.transcribe {
            // HTTP/2 over TLS, as AWS serves it; the process trusts the endpoint's certificate only.
            env.push(("AWS_ENDPOINT_URL_TRANSCRIBE_STREAMING".into(), transcribe.https_endpoint()));
            env.push(("SSL_CERT_FILE".into(), transcribe.certificate_file().display().to_string()));
        }
        env.extend(self.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    /// The real binary (`target/debug/<function>`) under the Runtime API harness with exactly
    /// [`Stack::process_env`].
    pub fn function_spec(&self) -> FunctionSpec {
        FunctionSpec::new(self.name.clone(), binary_path(&self.function)).with_envs(self.process_env())
    }

    /// Starts the real binary ([`Stack::function_spec`], `timeout` per invocation).
    pub async fn spawn(&self, timeout: Duration) -> Result<FunctionProcess> {
        let spec = self.function_spec().with_timeout(timeout);
        if !spec.binary.is_file() {
            bail!("{} is missing: run `cargo build --workspace --bins` (make test does)", spec.binary.display());
        }
        FunctionProcess::spawn(spec).await
    }
}

/// The Salesforce emulator's configuration for a whole local account (the demo, the bench): org
/// [`ORG_ID`], call center [`CALL_CENTER`], trusting `scrt` for the Telephony Integration API and
/// `app` as the connected app (consumer key [`CONSUMER_KEY`], user [`USERNAME`]), answering routing
/// requests from `routing`.
pub fn account_emulator_config(
    scrt: &TestKeyPair,
    app: &TestKeyPair,
    routing: sf_emulator::RoutingConfig,
) -> EmulatorConfig {
    let mut config = EmulatorConfig::new(ORG_ID, CALL_CENTER);
    config.scrt_public_keys = vec![scrt.public_pem.clone()];
    config.routing = routing;
    config.rest.consumer_key = CONSUMER_KEY.into();
    config.rest.connected_app_public_keys = vec![app.public_pem.clone()];
    config.rest.usernames = vec![USERNAME.into()];
    config
}

/// The inbound PSTN call of the sample events (+15555550123 calling +15555550100) as
/// InvokeTelephonyIntegrationApi's `createVoiceCall` creates it, for tests that need a VoiceCall first.
pub fn inbound_call(contact_id: &str, start_time: &str) -> scv_shared::scrt::CreateVoiceCall {
    scv_shared::scrt::CreateVoiceCall {
        call_center_api_name: CALL_CENTER.into(),
        vendor_call_key: contact_id.into(),
        to: "+15555550100".into(),
        from: "+15555550123".into(),
        initiation_method: "Inbound".into(),
        start_time: start_time.into(),
        call_subtype: Some("PSTN".into()),
        parent_voice_call_id: None,
        queue: None,
        call_origin: None,
        call_attributes: Some("{}".into()),
        participants: vec![scv_shared::scrt::Participant::end_user("+15555550123")],
    }
}

/// Declares a test support module's `Stack`: the function's local [`Stack`] in field `local`
/// (its fields and methods reached through `Deref`) and the function's own fields, e.g.
///
/// ```ignore
/// local_stack::function_stack! {
///     pub struct Stack {
///         pub deps: Deps,
///     }
/// }
/// ```
#[macro_export]
macro_rules! function_stack {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        pub struct $name {
            pub local: $crate::stack::Stack,
            $($(#[$fmeta])* pub $field: $ty),*
        }

        impl ::std::ops::Deref for $name {
            type Target = $crate::stack::Stack;
            fn deref(&self) -> &Self::Target {
                &self.local
            }
        }
    };
}
