//! The moto server, the local AWS emulator (S3, SSM, Kinesis, Transcribe batch, SNS, SQS, EventBridge).
//!
//! The project's Makefile installs it into `<workspace root>/.venv` from `requirements-dev.txt`; set
//! `MOTO_SERVER_BIN` to use another one. Functions and SDK clients reach it through the SDK's ordinary
//! endpoint settings: [`aws_sdk_config`] for clients built in a test, [`aws_env`] for a spawned function.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ssm::config::Credentials;
use aws_sdk_ssm::types::ParameterType;

/// The region every local resource lives in.
pub const REGION: &str = "us-east-1";
/// The access key id and secret of the local stack (moto accepts anything).
pub const TEST_CREDENTIAL: &str = "testing";

/// How long [`Moto::start`] waits for the server to answer HTTP.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How many free ports [`Moto::start`] tries when the server exits at once (another process took the port).
const START_ATTEMPTS: usize = 3;

/// The moto server started by [`Moto::shared`], once per process.
static SHARED: OnceLock<Result<Moto, String>> = OnceLock::new();

/// A running moto server on `127.0.0.1`, killed when dropped (and when the test process dies).
#[derive(Debug)]
pub struct Moto {
    child: Child,
    port: u16,
    log: Option<PathBuf>,
}

impl Moto {
    /// Starts a moto server on a free port of 127.0.0.1 and waits (up to 30 s) until it answers HTTP.
    ///
    /// Its output goes to `<target dir>/local-stack/moto-<port>.log`, out of the test output.
    pub fn start() -> Result<Moto> {
        let binary = server_binary();
        if !binary.is_file() {
            bail!(
                "moto server not found at {}: run `make venv` (or `make test`, which creates it) to install \
                 it into the project's virtualenv, or set MOTO_SERVER_BIN to a moto_server binary",
                binary.display()
            );
        }
        let mut attempt = 1;
        loop {
            match Moto::start_once(&binary) {
                Ok(moto) => return Ok(moto),
                Err(StartError::Exited(e)) if attempt < START_ATTEMPTS => {
                    tracing::warn!("moto server exited at start, retrying on another port: {e:#}");
                    attempt += 1;
                }
                Err(StartError::Exited(e) | StartError::Other(e)) => return Err(e),
            }
        }
    }

    fn start_once(binary: &Path) -> Result<Moto, StartError> {
        let port = free_port().map_err(StartError::Other)?;
        let log = open_log(port);
        let mut command = Command::new(binary);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]).stdin(Stdio::null());
        match &log {
            Some((_, file)) => {
                let stderr = file.try_clone().map_err(|e| StartError::Other(e.into()))?;
                command.stdout(Stdio::from(file.try_clone().map_err(|e| StartError::Other(e.into()))?));
                command.stderr(Stdio::from(stderr));
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = crate::spawn::spawn_std(command)
            .with_context(|| format!("cannot start the moto server {}", binary.display()))
            .map_err(StartError::Other)?;
        // From here on, dropping `moto` kills the child.
        let mut moto = Moto { child, port, log: log.map(|(path, _)| path) };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let exited = moto.child.try_wait().map_err(|e| StartError::Other(e.into()))?;
            if let Some(status) = exited {
                return Err(StartError::Exited(anyhow!(
                    "moto server {} exited ({status}) before answering on port {port}{}",
                    binary.display(),
                    moto.log_tail()
                )));
            }
            if http_status(port, "GET", "/moto-api/data.json").is_ok() {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                return Err(StartError::Other(anyhow!(
                    "moto server {} did not answer on port {port} within {} s{}",
                    binary.display(),
                    START_TIMEOUT.as_secs(),
                    moto.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The moto server shared by every test of this process, started on first use.
    ///
    /// It is never dropped, yet dies with the process: it was forked with `PR_SET_PDEATHSIG` from a
    /// thread that lives as long as the process. Tests sharing it run in parallel: give resources unique
    /// names rather than [`Moto::reset`] it. If it fails to start, every call returns the same error.
    pub fn shared() -> Result<&'static Moto> {
        match SHARED.get_or_init(|| Moto::start().map_err(|e| format!("{e:#}"))) {
            Ok(moto) => Ok(moto),
            Err(e) => Err(anyhow!("{e}")),
        }
    }

    /// The endpoint URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The file the server's output goes to, if it could be created.
    pub fn log_path(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// Deletes every resource of every service (`POST /moto-api/reset`).
    pub fn reset(&self) -> Result<()> {
        let status = http_status(self.port, "POST", "/moto-api/reset")
            .with_context(|| format!("cannot reset the moto server at {}", self.endpoint()))?;
        if status != 200 {
            bail!("moto server at {} answered {status} to POST /moto-api/reset", self.endpoint());
        }
        Ok(())
    }

    /// The last lines of the server's log, formatted to end an error message.
    fn log_tail(&self) -> String {
        let Some(path) = &self.log else { return String::new() };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        format!("; log {}:\n{tail}", path.display())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum StartError {
    /// The server exited before answering: maybe the port was taken meanwhile, worth another try.
    Exited(anyhow::Error),
    Other(anyhow::Error),
}

/// The moto server binary: `MOTO_SERVER_BIN` if set, else `<workspace root>/.venv/bin/moto_server`.
pub fn server_binary() -> PathBuf {
    match std::env::var_os("MOTO_SERVER_BIN") {
        Some(bin) if !bin.is_empty() => PathBuf::from(bin),
        _ => crate::workspace_root().join(".venv").join("bin").join("moto_server"),
    }
}

/// SDK configuration for the local stack: region us-east-1, static test credentials, every service at
/// `endpoint`. S3 clients built from it still need `force_path_style(true)`.
pub async fn aws_sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(TEST_CREDENTIAL, TEST_CREDENTIAL, None, None, "local-stack"))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// The environment a spawned function process needs to reach the local stack at `endpoint` through the
/// SDK's ordinary settings (`AWS_ENDPOINT_URL`), with the same region and credentials as
/// [`aws_sdk_config`].
pub fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", TEST_CREDENTIAL),
        ("AWS_SECRET_ACCESS_KEY", TEST_CREDENTIAL),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// Stores `value` as an SSM SecureString parameter `name`, replacing any previous value.
pub async fn put_secure_parameter(cfg: &SdkConfig, name: &str, value: &str) -> Result<()> {
    aws_sdk_ssm::Client::new(cfg)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .map_err(aws_sdk_ssm::Error::from)
        .with_context(|| format!("cannot put the SSM parameter {name}"))?;
    Ok(())
}

/// A port nobody listens on now (the OS picks it; another process could take it before moto does).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// Creates `<target dir>/local-stack/moto-<port>.log`; `None` (output discarded) if that fails.
fn open_log(port: u16) -> Option<(PathBuf, File)> {
    let dir = crate::target_dir().join("local-stack");
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("moto-{port}.log"));
    let file = File::create(&path).ok()?;
    Some((path, file))
}

/// Sends a body-less HTTP/1.1 request to 127.0.0.1:`port` and returns the response status.
fn http_status(port: u16, method: &str, path: &str) -> Result<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let head = String::from_utf8_lossy(&response[..response.len().min(64)]).into_owned();
    let status = head
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP response from 127.0.0.1:{port}: {head:?}"))?;
    Ok(status)
}
