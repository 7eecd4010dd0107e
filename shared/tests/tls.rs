//! One TLS configuration per process, shared by the AWS SDK clients and reqwest (src/tls.rs): a
//! local TLS server whose self-signed certificate only the given store trusts is reached by both
//! clients built on that store, and the process-wide store is read once (a child process's
//! `SSL_CERT_FILE` removed after the first client is built still serves the second).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

use std::time::Duration;

use aws_sdk_s3::error::SdkError;
use local_stack::transcribe_streaming::{EndpointConfig, TranscribeStreamingServer};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use scv_shared::aws::{http_client, http_client_on, load, load_on};
use scv_shared::tls::Tls;

fn store_trusting(pem: &str) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()).unwrap();
    roots
}

/// An S3 call through `sdk` to `endpoint`: `Ok` when the TLS handshake succeeded (whatever the
/// server then answered), the dispatch failure otherwise.
async fn sdk_reaches(sdk: &aws_config::SdkConfig, endpoint: &str) -> Result<(), String> {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .endpoint_url(endpoint)
        .force_path_style(true)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "test"))
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    match aws_sdk_s3::Client::from_conf(config).list_buckets().send().await {
        Err(e @ (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_))) => {
            Err(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
        }
        _ => Ok(()),
    }
}

async fn reqwest_reaches(client: &reqwest::Client, endpoint: &str) -> Result<(), String> {
    client.get(format!("{endpoint}/")).send().await.map(|_| ()).map_err(|e| scv_shared::http::describe(&e))
}

#[tokio::test]
async fn both_clients_reach_a_server_only_their_shared_store_trusts() {
    let server = TranscribeStreamingServer::start(EndpointConfig::default()).await.unwrap();
    let endpoint = server.https_endpoint();
    let tls = Tls::from_roots(store_trusting(server.certificate_pem())).unwrap();
    assert_eq!(tls.root_count(), 1);

    let sdk = load_on(Some(&tls)).await;
    sdk_reaches(&sdk, &endpoint).await.expect("the SDK client trusts the shared store");
    reqwest_reaches(&http_client_on(Some(&tls)), &endpoint).await.expect("reqwest trusts the shared store");

    // A store without the server's certificate: both handshakes fail, so the successes above came
    // from the store, not from anything the clients loaded themselves.
    let other = another_certificate().await;
    let stranger = Tls::from_roots(store_trusting(&other)).unwrap();
    assert!(sdk_reaches(&load_on(Some(&stranger)).await, &endpoint).await.is_err());
    assert!(reqwest_reaches(&http_client_on(Some(&stranger)), &endpoint).await.is_err());
}

/// A certificate that is not the server's (another local endpoint's self-signed one).
async fn another_certificate() -> String {
    let other = TranscribeStreamingServer::start(EndpointConfig::default()).await.unwrap();
    other.certificate_pem().to_string()
}

const CHILD: &str = "SCV_TLS_TEST_CHILD";

/// Runs in a child process (`SSL_CERT_FILE` set by the parent below): the first client built
/// loads the process's store; the file is then removed, and the other client, built afterwards,
/// still reaches the server, so it did not read the roots again.
#[tokio::test]
async fn child_builds_both_clients_on_one_load() {
    let Some(endpoint) = std::env::var_os(CHILD) else { return };
    let endpoint = endpoint.into_string().unwrap();
    let cert_file = std::env::var_os("SSL_CERT_FILE").unwrap();

    let reqwest = http_client();
    std::fs::remove_file(&cert_file).unwrap();
    let sdk = load().await;

    assert_eq!(Tls::shared().map(Tls::root_count), Some(1), "the shared store holds the one certificate");
    reqwest_reaches(&reqwest, &endpoint).await.expect("reqwest on the shared store");
    sdk_reaches(&sdk, &endpoint).await.expect("the SDK client on the shared store, loaded before the file went");
}

#[tokio::test]
async fn the_process_store_is_read_once_for_both_clients() {
    let server = TranscribeStreamingServer::start(EndpointConfig::default()).await.unwrap();
    let cert_file = std::env::temp_dir().join(format!("scv-tls-once-{}-{}.pem", std::process::id(), server.port()));
    std::fs::write(&cert_file, server.certificate_pem()).unwrap();
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_builds_both_clients_on_one_load", "--nocapture", "--test-threads=1"])
        .env(CHILD, server.https_endpoint())
        .env("SSL_CERT_FILE", &cert_file)
        .env_remove("SSL_CERT_DIR")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), child).await.unwrap().unwrap();
    let _ = std::fs::remove_file(&cert_file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
