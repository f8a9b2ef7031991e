//! The `revoca` binary: thin wiring over the library crates.
//!
//! - `revoca demo [--dir D] [--listen ADDR] [--certs N]`: demo PKI + server.
//! - `revoca serve --config FILE`: the server from a TOML configuration.
//! - `revoca revoke|hold|release`: life-cycle commands through the RA API (or the admin
//!   socket with `--socket`); `revoca update-reason` through the admin socket.
//! - `revoca ra profiles|submit|approve|reject|list|audit|subscriber-revoke|key-compromise`:
//!   the RA API as an operator (credentials from the demo's manifest).
//! - `revoca audit verify`: checks the hash-chained audit log.

#![forbid(unsafe_code)]

mod config;
mod crl_cli;
mod crl_wiring;
mod demo;
mod demo_ra;
mod hsm_cli;
mod keys;
mod ra_cli;
mod ra_wiring;
mod rollover;
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
        /// Address the RA serves HTTPS on (default: a free loopback port, in the manifest).
        #[arg(long)]
        ra_listen: Option<SocketAddr>,
        /// Keep every CA and responder key in a SoftHSM2 token under DIR/hsm (no private
        /// key file is written; the RA, whose TLS and operator keys are files, is off).
        #[arg(long)]
        hsm: bool,
    },
    /// CRLs: publish now, list, inspect.
    Crl {
        #[command(subcommand)]
        command: CrlCommand,
    },
    /// The OCSP responder: key rollover.
    Responder {
        #[command(subcommand)]
        command: ResponderCommand,
    },
    /// Keys on a PKCS#11 token (SoftHSM2 for demos and tests).
    Hsm {
        #[command(subcommand)]
        command: HsmCommand,
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
        /// RFC 5280 reason name, e.g. keyCompromise, superseded, cessationOfOperation
        /// (default unspecified).
        #[arg(long)]
        reason: Option<String>,
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
    /// Registration authority: requests, approvals, subscriber channels.
    Ra {
        #[command(subcommand)]
        command: RaCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
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

/// Registration-authority commands.
#[derive(Subcommand, Debug)]
enum RaCommand {
    /// List the certificate profiles.
    Profiles {
        #[command(flatten)]
        who: Who,
    },
    /// Submit (and verify) a certificate request; prints the request id last.
    Submit {
        #[command(flatten)]
        who: Who,
        /// Profile name (see `revoca ra profiles`).
        #[arg(long)]
        profile: String,
        /// PKCS#10 request (PEM).
        #[arg(long)]
        csr: PathBuf,
        /// Subject fields (a JSON object).
        #[arg(long)]
        subject: Option<PathBuf>,
        /// Requested validity, days (capped by the profile).
        #[arg(long)]
        validity_days: Option<u32>,
    },
    /// Approve a request (another operator than its verifier); prints the certificate.
    Approve {
        #[command(flatten)]
        who: Who,
        /// Request id.
        id: u64,
    },
    /// Reject a request.
    Reject {
        #[command(flatten)]
        who: Who,
        /// Request id.
        id: u64,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// List recent requests.
    List {
        #[command(flatten)]
        who: Who,
        /// How many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Print recent audit records (auditors).
    Audit {
        #[command(flatten)]
        who: Who,
        /// How many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Revoke as the subscriber, with the revocation code given at issuance.
    SubscriberRevoke {
        /// The demo directory.
        #[arg(long)]
        dir: PathBuf,
        /// The certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// The revocation code (visible in process listings: prefer --code-file).
        #[arg(
            long,
            required_unless_present = "code_file",
            conflicts_with = "code_file"
        )]
        code: Option<String>,
        /// A file whose first line is the revocation code (`-` for standard input).
        #[arg(long)]
        code_file: Option<PathBuf>,
        /// Reason (default unspecified).
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// Report a compromised key, proven by a CSR signed with it: revokes every
    /// certificate with the key and blocks it.
    KeyCompromise {
        #[command(flatten)]
        who: Who,
        /// A PKCS#10 request signed by the compromised key (PEM).
        #[arg(long)]
        proof: PathBuf,
        /// A certificate with that key not issued through the RA (PEM), optional.
        #[arg(long)]
        cert: Option<PathBuf>,
    },
}

/// Responder commands.
#[derive(Subcommand, Debug)]
enum ResponderCommand {
    /// New responder key and certificate (issued by the CA), every response re-signed in
    /// the background, the old key retired; no gap in service. Exits once done.
    Rollover {
        /// The demo directory (uses DIR/admin.sock).
        #[arg(long, required_unless_present = "socket")]
        dir: Option<PathBuf>,
        /// The admin socket (instead of --dir).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// The issuer's name (as in the configuration / manifest).
        #[arg(long)]
        issuer: String,
    },
}

/// CRL commands.
#[derive(Subcommand, Debug)]
enum CrlCommand {
    /// Ask the running server to publish new CRLs now; exits 0 once published.
    Build {
        /// The demo directory (uses DIR/admin.sock).
        #[arg(long, required_unless_present = "socket")]
        dir: Option<PathBuf>,
        /// The admin socket (instead of --dir).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// List the published CRLs with their numbers.
    List {
        /// The demo directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Show a CRL's issuer, number, dates and entry count.
    Show {
        /// The demo directory (with --url).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The CRL's URL (as in manifest.json "crls").
        #[arg(long)]
        url: Option<String>,
        /// A DER CRL file.
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

/// PKCS#11 key management.
#[derive(Subcommand, Debug)]
enum HsmCommand {
    /// Create a SoftHSM2 token under DIR/hsm (random PINs; the user PIN in DIR/hsm/user.pin).
    Init {
        /// The demo directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Generate a key pair inside the token (the private key never leaves it).
    Keygen {
        #[command(flatten)]
        token: TokenArgs,
        /// CKA_LABEL of the new key.
        #[arg(long)]
        label: String,
        /// P-256, P-384, RSA-2048, RSA-3072, RSA-4096 or Ed25519.
        #[arg(long)]
        alg: String,
    },
    /// List the token's private keys.
    List {
        #[command(flatten)]
        token: TokenArgs,
    },
}

/// Which token.
#[derive(Args, Debug)]
struct TokenArgs {
    /// A demo directory (its config's [hsm], or the DIR/hsm SoftHSM2 token).
    #[arg(long, required_unless_present = "config")]
    dir: Option<PathBuf>,
    /// A configuration file with an [hsm] section.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Audit log commands.
#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check the hash chain; exits 0 only for an intact log.
    Verify {
        /// The demo directory (uses its manifest's audit_dir).
        #[arg(long, required_unless_present = "audit_dir")]
        dir: Option<PathBuf>,
        /// The audit log directory (instead of --dir).
        #[arg(long)]
        audit_dir: Option<PathBuf>,
    },
}

/// The RA and the operator acting.
#[derive(Args, Debug)]
struct Who {
    /// The demo directory (its manifest names the RA URL and the operators).
    #[arg(long)]
    dir: PathBuf,
    /// Operator name (see manifest.json "operators").
    #[arg(long = "as")]
    operator: Option<String>,
}

/// Which certificate, and which running server.
#[derive(Args, Debug)]
struct Target {
    /// The demo directory of the running server (uses DIR/admin.sock).
    #[arg(long, required_unless_present = "socket")]
    dir: Option<PathBuf>,
    /// The admin socket of the running server (instead of the RA API).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Operator name for the RA API (default: an officer to revoke, the RA head to
    /// hold or release).
    #[arg(long = "as")]
    operator: Option<String>,
    /// The certificate (PEM file).
    #[arg(long, conflicts_with_all = ["issuer", "serial"], required_unless_present = "serial")]
    cert: Option<PathBuf>,
    /// The issuing CA certificate (PEM file), with --serial.
    #[arg(long, requires = "serial")]
    issuer: Option<PathBuf>,
    /// The serial number in hex, with --issuer.
    #[arg(long, requires = "issuer")]
    serial: Option<String>,
    /// Not a command-line option: the issuer name for commands that take one.
    #[arg(skip)]
    issuer_name: Option<String>,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REVOCA_LOG").unwrap_or_else(
        |_| // cryptoki logs every mechanism a token lacks as an error when a key opens: noise.
        tracing_subscriber::EnvFilter::new("info,cryptoki::mechanism=off"),
    );
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
        issuer_name: target.issuer_name.clone(),
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

/// revoke/hold/release: through the RA API when the demo has one (and no --socket was
/// given), else through the admin socket.
fn run_lifecycle(
    action: &str,
    target: &Target,
    reason: Option<String>,
    invalidity_date: Option<String>,
) -> ExitCode {
    if target.socket.is_none()
        && let Some(dir) = &target.dir
    {
        match ra_cli::RaTarget::from_dir(dir) {
            Ok(Some(ra)) => {
                let result = ra_cli::cert_fields(
                    target.cert.as_ref(),
                    target.issuer.as_ref(),
                    target.serial.as_ref(),
                    dir,
                )
                .and_then(|body| {
                    ra_cli::lifecycle(
                        &ra,
                        action,
                        target.operator.as_deref(),
                        body,
                        reason.as_deref(),
                        invalidity_date.as_deref(),
                    )
                });
                return ra_cli::finish(action, result);
            }
            Ok(None) => {}
            Err(e) => return fail(action, e),
        }
    }
    let reason = if action == "revoke" {
        Some(reason.unwrap_or_else(|| "unspecified".into()))
    } else {
        reason
    };
    run_admin(action, target, reason, invalidity_date)
}

fn run_hsm(command: HsmCommand) -> ExitCode {
    let token = |t: &TokenArgs| -> Result<keys::HsmConfig, String> {
        let h = hsm_cli::hsm_of(t.dir.as_deref(), t.config.as_deref())?;
        hsm_cli::ensure_env(&h)?;
        Ok(h)
    };
    let (context, result) = match command {
        HsmCommand::Init { dir } => ("hsm init", hsm_cli::init(&dir)),
        HsmCommand::Keygen {
            token: t,
            label,
            alg,
        } => (
            "hsm keygen",
            token(&t).and_then(|h| hsm_cli::keygen(&h, &label, &alg)),
        ),
        HsmCommand::List { token: t } => ("hsm list", token(&t).and_then(|h| hsm_cli::list(&h))),
    };
    ra_cli::finish(context, result)
}

fn run_ra(command: RaCommand) -> ExitCode {
    let target = |dir: &std::path::Path| -> Result<ra_cli::RaTarget, String> {
        ra_cli::RaTarget::from_dir(dir)?
            .ok_or_else(|| format!("{} has no RA (no ra_url in manifest.json)", dir.display()))
    };
    let need_as = |who: &Who| -> Result<String, String> {
        who.operator
            .clone()
            .ok_or_else(|| "give the operator with --as NAME".to_owned())
    };
    let (context, result) = match command {
        RaCommand::Profiles { who } => (
            "ra profiles",
            target(&who.dir).and_then(|t| ra_cli::profiles(&t, who.operator.as_deref())),
        ),
        RaCommand::Submit {
            who,
            profile,
            csr,
            subject,
            validity_days,
        } => (
            "ra submit",
            target(&who.dir).and_then(|t| {
                ra_cli::submit(
                    &t,
                    &need_as(&who)?,
                    &profile,
                    &csr,
                    subject.as_deref(),
                    validity_days,
                )
            }),
        ),
        RaCommand::Approve { who, id } => (
            "ra approve",
            target(&who.dir).and_then(|t| ra_cli::approve(&t, &need_as(&who)?, id)),
        ),
        RaCommand::Reject { who, id, reason } => (
            "ra reject",
            target(&who.dir).and_then(|t| ra_cli::reject(&t, &need_as(&who)?, id, &reason)),
        ),
        RaCommand::List { who, limit } => (
            "ra list",
            target(&who.dir).and_then(|t| ra_cli::list(&t, who.operator.as_deref(), limit)),
        ),
        RaCommand::Audit { who, limit } => (
            "ra audit",
            target(&who.dir).and_then(|t| ra_cli::audit(&t, who.operator.as_deref(), limit)),
        ),
        RaCommand::SubscriberRevoke {
            dir,
            cert,
            code,
            code_file,
            reason,
        } => (
            "ra subscriber-revoke",
            target(&dir).and_then(|t| {
                let code = match (code, code_file) {
                    (Some(c), _) => c,
                    (None, Some(f)) => ra_cli::read_secret_line(&f)?,
                    (None, None) => return Err("give --code or --code-file".into()),
                };
                let body = ra_cli::cert_fields(Some(&cert), None, None, &dir)?;
                ra_cli::subscriber_revoke(&t, body, &code, &reason)
            }),
        ),
        RaCommand::KeyCompromise { who, proof, cert } => (
            "ra key-compromise",
            target(&who.dir).and_then(|t| {
                ra_cli::key_compromise(&t, who.operator.as_deref(), &proof, cert.as_deref())
            }),
        ),
    };
    ra_cli::finish(context, result)
}

fn fail(context: &str, e: impl std::fmt::Display) -> ExitCode {
    eprintln!("revoca {context}: {e}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo {
            dir,
            listen,
            certs,
            ra_listen,
            hsm,
        } => {
            // A demo with a token (new or reused) needs SOFTHSM2_CONF before anything loads
            // the module: re-execute with it set.
            let hsm_dir = demo::hsm_dir(&dir);
            if hsm || hsm_dir.exists() {
                let conf = match std::fs::create_dir_all(&dir)
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        revoca_signer::pkcs11::write_softhsm_conf(&hsm_dir)
                            .map_err(|e| e.to_string())
                    }) {
                    Ok(c) => c,
                    Err(e) => return fail("demo", e),
                };
                if let Err(e) = keys::reexec_with_softhsm_conf(&conf) {
                    return fail("demo", e);
                }
            }
            init_logging();
            let hooks = match serve::TestHooks::from_env() {
                Ok(h) => h,
                Err(e) => return fail("demo", e),
            };
            let opts = demo::DemoOptions {
                dir,
                listen,
                certs,
                ra_listen,
                hsm,
            };
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
            if let Some(h) = &config.hsm
                && let Err(e) = hsm_cli::ensure_env(h)
            {
                return fail("serve", e);
            }
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
        } => run_lifecycle("revoke", &target, reason, invalidity_date),
        Command::Hold { target } => run_lifecycle("hold", &target, None, None),
        Command::Release { target } => run_lifecycle("release", &target, None, None),
        Command::Ra { command } => run_ra(command),
        Command::Hsm { command } => run_hsm(command),
        Command::Responder {
            command:
                ResponderCommand::Rollover {
                    dir,
                    socket,
                    issuer,
                },
        } => {
            let target = Target {
                dir,
                socket,
                operator: None,
                cert: None,
                issuer: None,
                serial: None,
                issuer_name: Some(issuer),
            };
            run_admin("rollover-responder", &target, None, None)
        }
        Command::Crl { command } => match command {
            CrlCommand::Build { dir, socket } => {
                let target = Target {
                    dir,
                    socket,
                    operator: None,
                    cert: None,
                    issuer: None,
                    serial: None,
                    issuer_name: None,
                };
                run_admin("publish-crls", &target, None, None)
            }
            CrlCommand::List { dir } => ra_cli::finish("crl list", crl_cli::list(&dir)),
            CrlCommand::Show { dir, url, file } => ra_cli::finish(
                "crl show",
                crl_cli::show(dir.as_deref(), url.as_deref(), file.as_deref()),
            ),
        },
        Command::Audit {
            command: AuditCommand::Verify { dir, audit_dir },
        } => ra_cli::finish(
            "audit verify",
            audit_dir
                .map(Ok)
                .unwrap_or_else(|| {
                    ra_cli::audit_dir_of(dir.as_deref().unwrap_or(std::path::Path::new(".")))
                })
                .and_then(|d| ra_cli::audit_verify(&d)),
        ),
        Command::UpdateReason {
            target,
            reason,
            invalidity_date,
        } => run_admin("update-reason", &target, Some(reason), invalidity_date),
    }
}
