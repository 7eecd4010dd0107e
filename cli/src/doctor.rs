//! `scv doctor`: checks one deployment end to end with the functions' own settings and code, and
//! prints a checklist with the fix for each failing check.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use scv_shared::config::{BackupConfig, RestConfig, ScrtConfig};
use scv_shared::keys::{KeyCache, KeySource};
use scv_shared::oauth::SalesforceAuth;
use scv_shared::retry::Deadline;
use scv_shared::scrt::{BulkTranscripts, ScrtError, TelephonyClient};
use serde::Serialize;
use serde_json::json;

use crate::settings::Settings;
use crate::{CliError, Global, Outcome};

#[derive(Debug, Args)]
#[command(long_about = "Check a deployment end to end and print the fix for every failing check.\n\n\
    Checks, each run when its settings are given (the functions' variable names, from the environment or --set):\n\
    \x20 key     the private key parameter exists, decrypts and parses (PRIVATE_KEY_PARAM_NAME)\n\
    \x20 token   a token signed with it is accepted by the Telephony Integration API: a harmless request \
    (an empty bulk transcript) whose answer tells 401 from anything else (SALESFORCE_ORG_ID, \
    CALL_CENTER_API_NAME, SCRT_ENDPOINT_BASE)\n\
    \x20 oauth   the OAuth 2.0 JWT bearer grant of the REST API works (SALESFORCE_AUTH_ENDPOINT, \
    CONSUMER_KEY_PARAM_NAME, REST_PRIVATE_KEY_PARAM_NAME, ACCESS_TOKEN_PARAM_NAME, AUDIENCE, SUBJECT)\n\
    \x20 backup  the CTR backup bucket is writable (CTR_BACKUP_S3_BUCKET; a probe object is written and deleted)\n\n\
    Exit code 0 when every check that ran passed, 4 when one failed.")]
pub struct DoctorArgs {}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: &'static str,
    /// `pass`, `fail`, `warn` or `skip`.
    pub status: &'static str,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Self { name, status: "pass", detail: detail.into(), fix: None }
    }
    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { name, status: "fail", detail: detail.into(), fix: Some(fix.into()) }
    }
    fn skip(name: &'static str, detail: impl Into<String>) -> Self {
        Self { name, status: "skip", detail: detail.into(), fix: None }
    }
}

pub async fn run(_args: &DoctorArgs, global: &Global) -> Result<Outcome, CliError> {
    let settings = Settings::new(&global.set)?;
    let sdk = crate::sdk(global).await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let http = scv_shared::aws::http_client();
    let mut checks = Vec::new();

    match ScrtConfig::from_env(&settings) {
        Err(e) => {
            checks.push(Check::skip("key", format!("not checked: {e}")));
            checks.push(Check::skip("token", "not checked: needs the key"));
        }
        Ok(cfg) => {
            let source = KeySource::Ssm { client: ssm.clone(), param: cfg.private_key_param_name.clone() };
            let keys = Arc::new(KeyCache::new(source, Duration::from_secs(300)));
            let param = cfg.private_key_param_name.clone();
            match keys.get(Deadline::after(Duration::from_secs(20))).await {
                Err(e) => {
                    checks.push(Check::fail(
                        "key",
                        e.to_string(),
                        format!(
                            "create or fix the key: `scv keys generate --param {param} --unit <OU>` (then upload the certificate), \
                             or Salesforce's key provisioning; the caller needs ssm:GetParameter and kms:Decrypt on it"
                        ),
                    ));
                    checks.push(Check::skip("token", "not checked: no usable key"));
                }
                Ok(_) => {
                    checks
                        .push(Check::pass("key", format!("{param} exists, decrypts and parses as an RSA private key")));
                    checks.push(token_check(&cfg, http.clone(), keys).await);
                }
            }
        }
    }

    match RestConfig::from_env(&settings) {
        Err(e) => checks.push(Check::skip("oauth", format!("not checked: {e}"))),
        Ok(rest) => {
            let auth = SalesforceAuth::new(&rest, ssm.clone(), http.clone());
            // A token shared in SSM proves nothing about the grant: it is replaced by a fresh grant
            // (and shared, as the functions share theirs).
            let deadline = Deadline::after(Duration::from_secs(20));
            let granted = match auth.token(deadline).await {
                Ok(shared) => auth.refresh(&shared, deadline).await,
                Err(e) => Err(e),
            };
            checks.push(match granted {
                Ok(_) => Check::pass("oauth", format!("the JWT bearer grant at {} answered a token", rest.auth_endpoint)),
                Err(e) => Check::fail(
                    "oauth",
                    e.to_string(),
                    "check the connected app: its certificate matches the key in REST_PRIVATE_KEY_PARAM_NAME, the consumer \
                     key in CONSUMER_KEY_PARAM_NAME is its own, the user in SUBJECT is pre-authorized for it, and AUDIENCE is \
                     https://login.salesforce.com (https://test.salesforce.com for a sandbox)",
                ),
            });
        }
    }

    match BackupConfig::from_env(&settings) {
        Err(e) => checks.push(Check::skip("backup", format!("not checked: {e}"))),
        Ok(backup) => checks.push(backup_check(&crate::s3_client(&sdk), &backup.bucket).await),
    }

    let failed = checks.iter().filter(|c| c.status == "fail").count();
    let mut human = String::new();
    for check in &checks {
        let mark = match check.status {
            "pass" => "[ok]  ",
            "fail" => "[FAIL]",
            "warn" => "[warn]",
            _ => "[skip]",
        };
        human.push_str(&format!("{mark} {:<7} {}\n", check.name, check.detail));
        if let Some(fix) = &check.fix {
            human.push_str(&format!("       fix: {fix}\n"));
        }
    }
    human.push_str(&if failed == 0 {
        "Every check that ran passed.\n".to_string()
    } else {
        format!("{failed} check(s) failed.\n")
    });
    let json = json!({"checks": checks, "failed": failed});
    Ok(Outcome { human, json, code: if failed == 0 { 0 } else { 4 } })
}

/// An empty Create Transcripts in Bulk: refused as invalid input when the token is accepted (nothing
/// is created), 401 when it is not.
async fn token_check(cfg: &ScrtConfig, http: reqwest::Client, keys: Arc<KeyCache>) -> Check {
    let client = TelephonyClient::new(cfg, http, keys);
    let answer =
        client.create_transcripts_bulk(&BulkTranscripts::default(), Deadline::after(Duration::from_secs(20))).await;
    let staged = client.keys().using_staged();
    let param = &cfg.private_key_param_name;
    let accepted = match &answer {
        Ok(_) => Some("the Telephony Integration API accepted a token signed with the key".to_string()),
        Err(ScrtError::Status { status, .. }) if *status != 401 && *status != 403 => Some(format!(
            "the Telephony Integration API accepted the token (it answered HTTP {status} to the empty probe)"
        )),
        Err(_) => None,
    };
    if let Some(detail) = accepted {
        if staged {
            return Check {
                name: "token",
                status: "warn",
                detail: format!("Salesforce accepts the staged key ({param}-next), not the key in {param}"),
                fix: Some(format!("finish the rotation: `scv keys promote --param {param}`")),
            };
        }
        return Check::pass("token", detail);
    }
    match answer {
        Ok(_) => Check::pass("token", "accepted"),
        Err(e) => match e.status() {
            Some(401 | 403) => Check::fail(
                "token",
                e.to_string(),
                format!(
                    "Salesforce refuses tokens signed with the key in {param}: upload its certificate \
                     (`scv keys show --param {param}`) to the contact center, and check SALESFORCE_ORG_ID ({}) and \
                     CALL_CENTER_API_NAME ({})",
                    cfg.org_id, cfg.call_center_api_name
                ),
            ),
            _ => Check::fail(
                "token",
                e.to_string(),
                format!("check SCRT_ENDPOINT_BASE ({}) and the network path to it", cfg.endpoint_base),
            ),
        },
    }
}

async fn backup_check(s3: &aws_sdk_s3::Client, bucket: &str) -> Check {
    let key = format!("doctor-probe/{}.json", uuid::Uuid::new_v4());
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{\"probe\":true}"))
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
        .send()
        .await;
    match put {
        Err(e) => Check::fail(
            "backup",
            format!("writing s3://{bucket}/{key} failed: {}", aws_sdk_s3::error::DisplayErrorContext(&e)),
            format!(
                "check CTR_BACKUP_S3_BUCKET ({bucket}) names the stack's CtrBackupBucketName output, and that CTRDataSync's \
                 role may s3:PutObject there"
            ),
        ),
        Ok(_) => {
            let _ = s3.delete_object().bucket(bucket).key(&key).send().await;
            Check::pass("backup", format!("s3://{bucket} is writable (a probe object was written and deleted)"))
        }
    }
}
