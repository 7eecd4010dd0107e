//! `sf-emulator`: runs the Salesforce emulator until SIGINT/SIGTERM. One log line per request on stderr.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, EmulatorConfig, RoutingConfig};

const USAGE: &str = "usage: sf-emulator [--host 127.0.0.1] [--port 8787] [--org-id 00DXX0000000001] \
[--call-center-api-name HVCC] [--public-key-file PATH]... [--connected-app-public-key-file PATH]... \
[--routing-file PATH] [--generate-keys DIR] [--seed-demo]";

struct Args {
    host: String,
    port: u16,
    config: EmulatorConfig,
    generate_keys: Option<String>,
    /// Fill the org with the console's demo call (see `sf_emulator::console::demo`).
    seed_demo: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut parsed = Args {
        host: "127.0.0.1".into(),
        port: 8787,
        config: EmulatorConfig::new("00DXX0000000001", "HVCC"),
        generate_keys: None,
        seed_demo: false,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--host" => parsed.host = value()?,
            "--port" => parsed.port = value()?.parse().context("--port must be a number")?,
            "--org-id" => parsed.config.org_id = value()?,
            "--call-center-api-name" => parsed.config.call_center_api_name = value()?,
            "--public-key-file" => {
                let path = value()?;
                let pem = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
                parsed.config.scrt_public_keys.push(pem);
            }
            "--connected-app-public-key-file" => {
                let path = value()?;
                let pem = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
                parsed.config.rest.connected_app_public_keys.push(pem);
            }
            "--routing-file" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
                parsed.config.routing = serde_json::from_str::<RoutingConfig>(&text)
                    .with_context(|| format!("{path} is not a RoutingConfig JSON"))?;
            }
            "--generate-keys" => parsed.generate_keys = Some(value()?),
            "--seed-demo" => parsed.seed_demo = true,
            "-h" | "--help" => bail!("{USAGE}"),
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let mut args = parse_args(std::env::args().skip(1))?;
    let pair = if args.generate_keys.is_some() || args.seed_demo { Some(TestKeyPair::generate()?) } else { None };
    if let (Some(dir), Some(pair)) = (&args.generate_keys, &pair) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
        std::fs::write(format!("{dir}/scrt-private-key.pem"), &pair.private_pkcs8_pem)?;
        std::fs::write(format!("{dir}/scrt-public-key.pem"), &pair.public_pem)?;
        eprintln!("wrote a test key pair to {dir}/scrt-private-key.pem and {dir}/scrt-public-key.pem");
    }
    if let Some(pair) = &pair {
        args.config.scrt_public_keys.push(pair.public_pem.clone());
        if args.seed_demo {
            // The demo's REST calls sign their assertions with the same key.
            args.config.rest.connected_app_public_keys.push(pair.public_pem.clone());
        }
    }
    if args.config.scrt_public_keys.is_empty() {
        eprintln!("warning: no --public-key-file given: every Telephony API call will be refused (401)");
    }
    let addr: SocketAddr =
        format!("{}:{}", args.host, args.port).parse().context("--host/--port do not form an address")?;
    let (org_id, call_center) = (args.config.org_id.clone(), args.config.call_center_api_name.clone());
    let emulator = Emulator::start_on(args.config, addr).await?;
    if let (true, Some(pair)) = (args.seed_demo, &pair) {
        sf_emulator::console::demo::seed(emulator.local_addr(), pair, &org_id, &call_center)
            .await
            .context("seeding the demo data")?;
        eprintln!("seeded the demo calls");
    }
    eprintln!(
        "sf-emulator listening: SCRT_ENDPOINT_BASE={} SALESFORCE_AUTH_ENDPOINT={} SALESFORCE_REST_API_ENDPOINT_BASE={} control={}/__emulator console={}/console",
        emulator.scrt_base(),
        emulator.token_url(),
        emulator.rest_base(),
        emulator.base_url(),
        emulator.base_url()
    );
    shutdown_signal().await;
    eprintln!("sf-emulator stopping");
    emulator.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> anyhow::Result<Args> {
        parse_args(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn flags() -> anyhow::Result<()> {
        let defaults = args(&[])?;
        assert_eq!((defaults.host.as_str(), defaults.port), ("127.0.0.1", 8787));
        let custom =
            args(&["--port", "9000", "--host", "0.0.0.0", "--org-id", "00D1", "--call-center-api-name", "CC"])?;
        assert_eq!(
            (custom.port, custom.config.org_id.as_str(), custom.config.call_center_api_name.as_str()),
            (9000, "00D1", "CC")
        );
        assert!(args(&["--port"]).is_err());
        assert!(args(&["--port", "x"]).is_err());
        assert!(args(&["--bogus"]).is_err());
        assert!(args(&["--seed-demo"])?.seed_demo && !defaults.seed_demo);
        assert!(args(&["--public-key-file", "/nonexistent"]).is_err());
        Ok(())
    }
}
