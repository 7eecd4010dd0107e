//! The moto server from the project's virtualenv. These tests FAIL (not skip) when it is missing: run
//! `make venv` or `make test`.

use std::time::Duration;

use anyhow::{Context as _, Result};
use local_stack::moto::{Moto, aws_env, aws_sdk_config, put_secure_parameter};

#[tokio::test]
async fn stores_secure_parameters_and_resets() -> Result<()> {
    // The only test of this binary using the shared server, so resetting it disturbs nobody.
    let moto = Moto::shared()?;
    assert_eq!(moto.endpoint(), format!("http://127.0.0.1:{}", moto.port()));
    let cfg = aws_sdk_config(&moto.endpoint()).await;
    let ssm = aws_sdk_ssm::Client::new(&cfg);
    let name = "/scv/local-stack-test/secret";

    put_secure_parameter(&cfg, name, "first").await?;
    put_secure_parameter(&cfg, name, "s3cr3t value").await?;
    let got = ssm.get_parameter().name(name).with_decryption(true).send().await?;
    let parameter = got.parameter.context("parameter")?;
    assert_eq!(parameter.value.as_deref(), Some("s3cr3t value"));
    assert_eq!(parameter.r#type, Some(aws_sdk_ssm::types::ParameterType::SecureString));
    assert_eq!(parameter.version, 2);

    moto.reset()?;
    let gone = ssm.get_parameter().name(name).with_decryption(true).send().await;
    let error = gone.map_err(aws_sdk_ssm::Error::from).expect_err("reset deleted the parameter");
    assert!(matches!(error, aws_sdk_ssm::Error::ParameterNotFound(_)), "{error:?}");
    Ok(())
}

#[test]
fn a_started_server_dies_with_its_handle() -> Result<()> {
    let moto = Moto::start()?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], moto.port()));
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    assert!(moto.log_path().is_some_and(|path| path.exists()));
    drop(moto);
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    Ok(())
}

#[test]
fn aws_env_points_a_function_at_the_endpoint() {
    let env = aws_env("http://127.0.0.1:4566");
    let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(get("AWS_ENDPOINT_URL"), Some("http://127.0.0.1:4566"));
    assert_eq!(get("AWS_REGION"), Some("us-east-1"));
    assert_eq!(get("AWS_DEFAULT_REGION"), Some("us-east-1"));
    assert_eq!(get("AWS_ACCESS_KEY_ID"), Some("testing"));
    assert_eq!(get("AWS_SECRET_ACCESS_KEY"), Some("testing"));
    assert_eq!(get("AWS_EC2_METADATA_DISABLED"), Some("true"));
}
