//! `scv keys`: the contact center's signing key, as AuthKeysSSMUtil makes it, for people. A
//! rotation is `stage` → upload the certificate to Salesforce → `promote`, and no call fails
//! (docs/keys.md#rotation). Certificates are printed; a private key never is.

use clap::{Args, Subcommand};
use scv_shared::keygen::{KeyStore, Provisioned, StoreError, certificate_param};
use serde_json::{Value, json};

use crate::{CliError, Global, Outcome};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// First provisioning: a new key straight into the parameter the functions read.
    ///
    /// Writes a new RSA-2048 key to PARAM (SecureString) and its self-signed certificate to
    /// PARAM-certificate, and prints the certificate: upload it to the contact center in Salesforce.
    /// Calls fail from now until it is uploaded: to replace a key in use, run `stage` instead.
    Generate(MakeArgs),
    /// Rotation, step 1: a new key next to the one in use.
    ///
    /// Writes a new RSA-2048 key to PARAM-next and its certificate to PARAM-next-certificate, and
    /// prints the certificate. The functions keep using PARAM. Step 2: upload the certificate to the
    /// contact center in Salesforce; from then on each function container switches to the staged key
    /// on its next call (one 401, no failed call). Step 3: `scv keys promote`.
    Stage(MakeArgs),
    /// Rotation, step 3: the staged key becomes the key in use.
    ///
    /// Copies PARAM-next (and its certificate) into PARAM. Run it once the certificate printed by
    /// `stage` is uploaded to Salesforce. PARAM-next stays (it now holds the same key).
    Promote(ParamArgs),
    /// The key parameters and their certificates: what is in use, what is staged, when they expire.
    ///
    /// Prints the certificate of the key in use (to paste into Salesforce again) and the staged one's,
    /// if any. Never decrypts or prints a private key.
    Show(ParamArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ParamArgs {
    /// The SSM parameter the functions read the key from (their PRIVATE_KEY_PARAM_NAME: the
    /// template's TelephonyIntegrationAuthPrivateKeySSMParamName, by default
    /// telephony-integration-auth-private-key).
    #[arg(long, env = "PRIVATE_KEY_PARAM_NAME", value_name = "PARAM")]
    pub param: String,
}

#[derive(Debug, Clone, Args)]
pub struct MakeArgs {
    #[command(flatten)]
    pub param: ParamArgs,
    /// The certificate subject's organizational unit (AuthKeysSSMUtil's OrganizationalUnitName),
    /// e.g. the call center API name.
    #[arg(long, value_name = "OU")]
    pub unit: String,
    /// How long the certificate is valid, in days.
    #[arg(long, default_value_t = scv_shared::keygen::DEFAULT_VALIDITY_DAYS)]
    pub days: u32,
    /// The KMS key to encrypt the SecureString with (default: aws/ssm).
    #[arg(long, env = "SSM_KMS_KEY_ID", value_name = "KEY")]
    pub kms_key_id: Option<String>,
}

pub async fn run(command: &KeysCommand, global: &Global) -> Result<Outcome, CliError> {
    let sdk = crate::sdk(global).await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let store = |param: &ParamArgs, kms: Option<&String>| KeyStore {
        ssm: ssm.clone(),
        param: param.param.clone(),
        kms_key_id: kms.cloned().filter(|k| !k.is_empty()),
    };
    let now = chrono::Utc::now().timestamp();
    match command {
        KeysCommand::Generate(args) => {
            let store = store(&args.param, args.kms_key_id.as_ref());
            let made = store.generate(&args.unit, args.days, now).await.map_err(store_error)?;
            let next = "Upload this certificate to the contact center in Salesforce: calls are refused until it is.";
            Ok(made_outcome("Generated a new key", &made, next))
        }
        KeysCommand::Stage(args) => {
            let store = store(&args.param, args.kms_key_id.as_ref());
            let made = store.stage(&args.unit, args.days, now).await.map_err(store_error)?;
            let next = format!(
                "Next: upload this certificate to the contact center in Salesforce, then run `scv keys promote --param {}`.",
                store.param
            );
            Ok(made_outcome("Staged a new key", &made, &next))
        }
        KeysCommand::Promote(args) => {
            let store = store(args, None);
            let done = store.promote().await.map_err(store_error)?;
            let human = format!(
                "Promoted {} into {} (the key in use){}.\n",
                store.staged_param(),
                done.key_param,
                if done.certificate_pem.is_empty() { "" } else { ", with its certificate" }
            );
            Ok(Outcome::ok(human, json!({"promoted": store.staged_param(), "keyParam": done.key_param})))
        }
        KeysCommand::Show(args) => show(&store(args, None)).await,
    }
}

fn store_error(e: StoreError) -> CliError {
    match e {
        StoreError::NotFound { .. } => CliError::not_found(e.to_string()),
        StoreError::Generate(_) => CliError::usage(e.to_string()),
        _ => CliError::failed(e.to_string()),
    }
}

fn made_outcome(what: &str, made: &Provisioned, next: &str) -> Outcome {
    let (from, to) = (date(made.not_before), date(made.not_after));
    let human = format!(
        "{what} in SSM parameter {} (SecureString; the private key is not shown).\n\
         Its certificate (also in {}), valid {from} to {to}:\n\n{}\n{next}\n",
        made.key_param, made.certificate_param, made.certificate_pem
    );
    let json = json!({
        "keyParam": made.key_param,
        "certificateParam": made.certificate_param,
        "certificate": made.certificate_pem,
        "notBefore": from,
        "notAfter": to,
    });
    Outcome::ok(human, json)
}

fn date(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map_or_else(|| unix.to_string(), |d| d.to_rfc3339())
}

/// What a certificate says, for `show` and `doctor`.
pub fn certificate_summary(pem: &str) -> Result<Value, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let cert = block.parse_x509().map_err(|e| e.to_string())?;
    let not_after = cert.validity().not_after.timestamp();
    let units: Vec<String> =
        cert.subject().iter_organizational_unit().filter_map(|a| a.as_str().ok().map(str::to_string)).collect();
    let days_left = (not_after - chrono::Utc::now().timestamp()).div_euclid(86_400);
    Ok(json!({
        "subject": cert.subject().to_string(),
        "organizationalUnit": units.join(","),
        "notBefore": date(cert.validity().not_before.timestamp()),
        "notAfter": date(not_after),
        "daysLeft": days_left,
        "signatureAlgorithm": cert.signature_algorithm.algorithm.to_id_string(),
    }))
}

async fn show(store: &KeyStore) -> Result<Outcome, CliError> {
    let exists = |param: &str| {
        let ssm = store.ssm.clone();
        let param = param.to_string();
        async move {
            match ssm.get_parameter().name(&param).with_decryption(false).send().await {
                Ok(out) => Ok(out.parameter.map(|p| {
                    json!({
                        "type": p.r#type.map(|t| t.as_str().to_string()),
                        "lastModified": p.last_modified_date.map(|d| d.to_string()),
                        "version": p.version,
                    })
                })),
                Err(e)
                    if e.as_service_error().is_some_and(
                        aws_sdk_ssm::operation::get_parameter::GetParameterError::is_parameter_not_found,
                    ) =>
                {
                    Ok(None)
                }
                Err(e) => Err(CliError::failed(format!(
                    "reading SSM parameter {param} failed: {}",
                    aws_sdk_ssm::error::DisplayErrorContext(&e)
                ))),
            }
        }
    };
    let staged = store.staged_param();
    let current_key = exists(&store.param).await?;
    let Some(current_key) = current_key else {
        return Err(CliError::not_found(format!(
            "SSM parameter {} was not found: run `scv keys generate --param {}` (or Salesforce's key provisioning)",
            store.param, store.param
        )));
    };
    let staged_key = exists(&staged).await?;
    let current_cert = store.read(&certificate_param(&store.param), false).await.map_err(store_error)?;
    let staged_cert = store.read(&certificate_param(&staged), false).await.map_err(store_error)?;
    let summary =
        |pem: &Option<String>| pem.as_deref().map(|p| certificate_summary(p).unwrap_or_else(|e| json!({"error": e})));
    let promoted = staged_key.is_some() && staged_cert.is_some() && staged_cert == current_cert;
    let mut human = format!("Key in use: {} ({})\n", store.param, describe(&current_key));
    match (&current_cert, summary(&current_cert)) {
        (Some(pem), Some(s)) => human.push_str(&format!("  certificate: {}\n\n{pem}\n", one_line(&s))),
        _ => human.push_str("  no certificate stored (the key was not made by scv or was provisioned by Salesforce)\n"),
    }
    match &staged_key {
        None => human.push_str(&format!("Staged key: none ({staged} does not exist)\n")),
        Some(_) if promoted => human.push_str(&format!("Staged key: {staged} holds the key in use (promoted)\n")),
        Some(meta) => {
            human.push_str(&format!("Staged key: {staged} ({}) — waiting for promotion\n", describe(meta)));
            if let (Some(pem), Some(s)) = (&staged_cert, summary(&staged_cert)) {
                human.push_str(&format!("  certificate: {}\n\n{pem}\n", one_line(&s)));
            }
        }
    }
    let json = json!({
        "keyParam": store.param,
        "key": current_key,
        "certificate": current_cert,
        "certificateDetails": summary(&current_cert),
        "stagedParam": staged,
        "staged": staged_key,
        "stagedCertificate": staged_cert,
        "stagedCertificateDetails": summary(&staged_cert),
        "promoted": promoted,
    });
    Ok(Outcome::ok(human, json))
}

fn describe(meta: &Value) -> String {
    format!(
        "{}, version {}, last modified {}",
        meta["type"].as_str().unwrap_or("?"),
        meta["version"].as_i64().unwrap_or_default(),
        meta["lastModified"].as_str().unwrap_or("?")
    )
}

fn one_line(summary: &Value) -> String {
    if let Some(error) = summary.get("error") {
        return format!("unreadable ({error})");
    }
    format!(
        "OU {}, valid until {} ({} days left), {}",
        summary["organizationalUnit"].as_str().unwrap_or(""),
        summary["notAfter"].as_str().unwrap_or(""),
        summary["daysLeft"],
        if summary["signatureAlgorithm"] == "1.2.840.113549.1.1.11" { "SHA-256 with RSA" } else { "other signature" }
    )
}
