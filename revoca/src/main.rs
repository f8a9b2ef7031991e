//! The `revoca` binary: thin wiring over the library crates.
//!
//! - `revoca demo [--dir D] [--listen ADDR] [--certs N]`: demo PKI + server.
//! - `revoca serve --config FILE`: the server from a TOML configuration.
//! - `revoca revoke|hold|release|update-reason`: life-cycle commands to a running server.

#![forbid(unsafe_code)]

mod config;
mod demo;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use revoca_responder::admin::{AdminCommand, send_command};

#[derive(Parser, Debug)]
#[command(
    name = "revoca",
    version,
    about = "Certificate-status appliance: OCSP responder and CRL publisher"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create (or reuse) a demo PKI in DIR and serve OCSP for it until stopped.
    Demo {
        /// Demo directory (created if missing, reused if it already holds a demo).
        #[arg(long, default_value = "revoca-demo")]
        dir: PathBuf,
        /// Address to serve OCSP on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Number of sample certificates (the first 1,000 are PEM files).
        #[arg(long, default_value_t = 1000)]
        certs: usize,
    },
    /// Serve OCSP from a TOML configuration (see docs/configuration.md).
    Serve {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Revoke a certificate (exits 0 once the revocation is durable).
    Revoke {
        #[command(flatten)]
        target: Target,
        /// RFC 5280 reason name, e.g. keyCompromise, superseded, cessationOfOperation.
        #[arg(long)]
        reason: String,
        /// When the key was compromised (RFC 3339), for keyCompromise.
        #[arg(long)]
        invalidity_date: Option<String>,
    },
    /// Suspend a certificate (certificateHold); only where the issuer allows it.
    Hold {
        #[command(flatten)]
        target: Target,
    },
    /// Lift a suspension.
    Release {
        #[command(flatten)]
        target: Target,
    },
    /// Change the reason of a revoked certificate (e.g. to keyCompromise).
    UpdateReason {
        #[command(flatten)]
        target: Target,
        /// The new reason.
        #[arg(long)]
        reason: String,
        /// When the key was compromised (RFC 3339).
        #[arg(long)]
        invalidity_date: Option<String>,
    },
}

/// Which certificate, and which running server.
#[derive(Args, Debug)]
struct Target {
    /// The demo directory of the running server (uses DIR/admin.sock).
    #[arg(long, required_unless_present = "socket")]
    dir: Option<PathBuf>,
    /// The admin socket of the running server (instead of --dir).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// The certificate (PEM file).
    #[arg(long, conflicts_with_all = ["issuer", "serial"], required_unless_present = "serial")]
    cert: Option<PathBuf>,
    /// The issuing CA certificate (PEM file), with --serial.
    #[arg(long, requires = "serial")]
    issuer: Option<PathBuf>,
    /// The serial number in hex, with --issuer.
    #[arg(long, requires = "issuer")]
    serial: Option<String>,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REVOCA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn admin_command(
    action: &str,
    target: &Target,
    reason: Option<String>,
    invalidity_date: Option<String>,
) -> Result<(PathBuf, AdminCommand), String> {
    let socket = match (&target.socket, &target.dir) {
        (Some(s), _) => s.clone(),
        (None, Some(d)) => d.join("admin.sock"),
        (None, None) => return Err("give --dir or --socket".into()),
    };
    let cmd = AdminCommand {
        action: action.to_owned(),
        cert_pem: target.cert.as_ref().map(read).transpose()?,
        issuer_pem: target.issuer.as_ref().map(read).transpose()?,
        serial: target.serial.clone(),
        reason,
        invalidity_date,
    };
    Ok((socket, cmd))
}

fn run_admin(
    action: &str,
    target: &Target,
    reason: Option<String>,
    invalidity_date: Option<String>,
) -> ExitCode {
    let result =
        admin_command(action, target, reason, invalidity_date).and_then(|(socket, cmd)| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(send_command(&socket, &cmd))
        });
    match result {
        Ok((status, answer)) if status.is_success() => {
            println!(
                "{action}: {} (issuer {}, serial {})",
                answer.result.unwrap_or_default(),
                answer.issuer.unwrap_or_default(),
                answer.serial.unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Ok((status, answer)) => {
            eprintln!(
                "revoca {action}: refused ({status}): {}",
                answer.error.unwrap_or_default()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("revoca {action}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn fail(context: &str, e: impl std::fmt::Display) -> ExitCode {
    eprintln!("revoca {context}: {e}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { dir, listen, certs } => {
            init_logging();
            let hooks = match serve::TestHooks::from_env() {
                Ok(h) => h,
                Err(e) => return fail("demo", e),
            };
            let opts = demo::DemoOptions { dir, listen, certs };
            let (config, manifest) = match demo::prepare(&opts) {
                Ok(x) => x,
                Err(e) => return fail("demo", e),
            };
            let dir = manifest.parent().map(PathBuf::from).unwrap_or_default();
            let how_to = demo::how_to(&dir, config.listen);
            match serve::run(config, hooks, move || println!("{how_to}")) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail("demo", e),
            }
        }
        Command::Serve { config } => {
            init_logging();
            let hooks = match serve::TestHooks::from_env() {
                Ok(h) => h,
                Err(e) => return fail("serve", e),
            };
            let config = match config::Config::load(&config) {
                Ok(c) => c,
                Err(e) => return fail("serve", e),
            };
            let listen = config.listen;
            match serve::run(config, hooks, move || println!("ready: http://{listen}/")) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail("serve", e),
            }
        }
        Command::Revoke {
            target,
            reason,
            invalidity_date,
        } => run_admin("revoke", &target, Some(reason), invalidity_date),
        Command::Hold { target } => run_admin("hold", &target, None, None),
        Command::Release { target } => run_admin("release", &target, None, None),
        Command::UpdateReason {
            target,
            reason,
            invalidity_date,
        } => run_admin("update-reason", &target, Some(reason), invalidity_date),
    }
}
