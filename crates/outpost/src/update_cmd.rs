//! `outpost update check|apply` (and, with the `release-tool` feature, `outpost release
//! keygen|sign|rotate`): the binary's wiring around `outpost-update`, which does the work.
//!
//! Exit codes: 0 done or up to date, 1 the update server could not be reached (or a local
//! failure), 2 refused or bad input, the reason named (`refused (CODE): ...`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::cli::ConfigFile;
use crate::config;

/// Where `apply` looks for container markers; `/` unless set (tests on a machine that is
/// itself a container point it at an empty directory).
pub const CONTAINER_ROOT_ENV: &str = "OUTPOST_UPDATE_CONTAINER_ROOT";

#[derive(Debug, Subcommand)]
pub enum UpdateCommand {
    /// Fetch and verify the channel's signed manifest; say whether an update is available.
    #[command(after_help = "\
Examples:
  outpost update check
  outpost update check --channel beta --url https://releases.example.net/outpost --json

Exit codes: 0 checked (up to date or an update available), 1 update server unreachable,
2 refused (bad signature, unknown key, expired, replayed, downgrade, ...) or bad usage.")]
    Check(UpdateArgs),
    /// Check, then download, verify and swap in the new build (the old one kept as BIN.prev).
    #[command(after_help = "\
Examples:
  outpost update apply
  outpost update apply --channel beta --json

The running agent keeps running the old build until it is restarted (systemd: restart
the unit). Never done inside a container: update the image instead.
Exit codes: 0 updated or up to date, 1 update server unreachable or a local failure,
2 refused (the reason is named) or bad usage.")]
    Apply(UpdateArgs),
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub file: ConfigFile,
    /// Release channel (config update.channel).
    #[arg(long, value_name = "C")]
    pub channel: Option<String>,
    /// Manifests' base URL (config update.url).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Data directory, where the last manifest counters are kept (config data_dir).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `outpost update ...`.
pub fn run(cmd: UpdateCommand) -> ExitCode {
    let (args, apply) = match cmd {
        UpdateCommand::Check(a) => (a, false),
        UpdateCommand::Apply(a) => (a, true),
    };
    let json = args.json;
    let (settings, probation_ms) = match settings(&args) {
        Ok(s) => s,
        Err(e) => {
            report_error(json, "bad_settings", &format!("{e:#}"));
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report_error(json, "io", &format!("runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    let (binary, data_dir) = (
        settings.binary.clone(),
        settings
            .state_dir
            .parent()
            .map(std::path::Path::to_path_buf),
    );
    let res = rt.block_on(async move {
        let updater = outpost_update::Updater::new(settings)?;
        let now = outpost_update::unix_now();
        if apply {
            updater.apply(now).await.map(Done::Applied)
        } else {
            updater.check(now).await.map(|c| Done::Checked(Box::new(c)))
        }
    });
    // A swap done: the new version starts on probation, and the previous one comes back
    // if it does not prove healthy (crate::probation).
    if let (Ok(Done::Applied(outpost_update::Outcome::Updated { from, to, previous })), Some(d)) =
        (&res, &data_dir)
    {
        let pending = crate::probation::Pending {
            from: from.to_string(),
            to: to.to_string(),
            binary: binary.clone(),
            previous: previous.clone(),
            probation_ms,
            started_ms: outpost_core::clock::now_ms(),
            attempts: 0,
            rolled_back: None,
        };
        if let Err(e) = crate::probation::begin(d, &pending) {
            report_error(
                json,
                "io",
                &format!("the new build is in place, but its probation marker is not: {e}"),
            );
            return ExitCode::from(1);
        }
    }
    match res {
        Ok(done) => {
            print_done(&done, json);
            ExitCode::SUCCESS
        }
        Err(e) => {
            report_error(json, e.code(), &e.to_string());
            if e.is_unreachable() || e.is_local() {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

enum Done {
    Checked(Box<outpost_update::Checked>),
    Applied(outpost_update::Outcome),
}

fn current_version() -> semver::Version {
    // Cargo checks the package version is semver; 0.0.0 would only ever allow updates.
    crate::version::get()
        .parse()
        .unwrap_or(semver::Version::new(0, 0, 0))
}

/// The updater's settings and the probation a swap starts.
fn settings(args: &UpdateArgs) -> anyhow::Result<(outpost_update::Settings, u64)> {
    let mut flags = Vec::new();
    if let Some(d) = &args.data_dir {
        flags.push((
            "--data-dir",
            "data_dir",
            toml::Value::String(d.display().to_string()),
        ));
    }
    if let Some(c) = &args.channel {
        flags.push((
            "--channel",
            "update.channel",
            toml::Value::String(c.clone()),
        ));
    }
    if let Some(u) = &args.url {
        flags.push(("--url", "update.url", toml::Value::String(u.clone())));
    }
    let loaded = config::load(config::Sources {
        file: args.file.config.as_deref(),
        env: &|k| std::env::var(k).ok(),
        flags,
    })?;
    let cfg = loaded.config;
    let binary = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot find the running binary: {e}"))?;
    let settings = settings_from(&cfg, binary, cfg.data_dir()?.join("update"), true)?;
    Ok((settings, cfg.update.probation_ms))
}

/// The updater's settings from the config: for `binary`, keeping its counters in
/// `state_dir`. Without `need_url` the base URL may be unset (a checksum-only update
/// fetches no manifest).
pub fn settings_from(
    cfg: &config::Config,
    binary: PathBuf,
    state_dir: PathBuf,
    need_url: bool,
) -> anyhow::Result<outpost_update::Settings> {
    let u = &cfg.update;
    let base_url = match (&u.url, need_url) {
        (Some(url), _) => url.clone(),
        (None, false) => String::new(),
        (None, true) => anyhow::bail!("update.url is not set (give --url or set update.url)"),
    };
    Ok(outpost_update::Settings {
        base_url,
        channel: u.channel.clone(),
        target: outpost_update::current_target(),
        current_version: current_version(),
        binary,
        state_dir,
        keys: u.trusted_keys()?,
        ca_file: u.ca_file.clone(),
        container_root: std::env::var_os(CONTAINER_ROOT_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/")),
        max_download_bytes: outpost_update::Settings::DEFAULT_MAX_DOWNLOAD_BYTES,
    })
}

fn print_done(done: &Done, json: bool) {
    use outpost_update::{Decision, Outcome};
    match done {
        Done::Checked(c) => {
            let available = c.decision == Decision::Update;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "ok": true,
                        "current": env!("CARGO_PKG_VERSION"),
                        "offered": c.build.version.to_string(),
                        "update_available": available,
                        "manifest_version": c.manifest.version,
                        "expires": c.manifest.expires,
                        "signed_by": c.signer.to_string(),
                        "rotated_key": c.rotated,
                    })
                );
            } else if available {
                println!(
                    "update available: {} -> {} (manifest {}, signed by key {}{})",
                    env!("CARGO_PKG_VERSION"),
                    c.build.version,
                    c.manifest.version,
                    c.signer,
                    if c.rotated {
                        ", introduced by a rotation statement"
                    } else {
                        ""
                    }
                );
            } else {
                println!("up to date: {}", crate::version::get());
            }
        }
        Done::Applied(Outcome::UpToDate { version }) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": true, "updated": false, "version": version.to_string()})
                );
            } else {
                println!("up to date: {version}");
            }
        }
        Done::Applied(Outcome::Updated { from, to, previous }) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "ok": true, "updated": true, "from": from.to_string(),
                        "to": to.to_string(), "previous": previous,
                    })
                );
            } else {
                println!(
                    "updated {from} -> {to}; the previous build is kept at {}; restart the agent to run the new one",
                    previous.display()
                );
            }
        }
    }
}

fn report_error(json: bool, code: &str, message: &str) {
    if json {
        println!(
            "{}",
            serde_json::json!({"ok": false, "code": code, "error": message})
        );
    } else {
        eprintln!("outpost update: refused ({code}): {message}");
    }
}

#[cfg(feature = "release-tool")]
pub use release::{run_release, ReleaseCommand};

#[cfg(feature = "release-tool")]
mod release {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::Path;

    /// Set to encrypt a new secret key, and to open an encrypted one.
    pub const PASSWORD_ENV: &str = "OUTPOST_RELEASE_PASSWORD";

    #[derive(Debug, Subcommand)]
    pub enum ReleaseCommand {
        /// Make a release key pair: DIR/outpost-release.pub and DIR/outpost-release.key (0600).
        #[command(after_help = "\
Examples:
  OUTPOST_RELEASE_PASSWORD=... outpost release keygen --out /media/offline/keys

The secret key is encrypted with OUTPOST_RELEASE_PASSWORD when it is set. Keep it offline.")]
        Keygen {
            #[arg(long, value_name = "DIR")]
            out: PathBuf,
        },
        /// Sign a manifest (or rotation statement): writes FILE.minisig beside it.
        #[command(after_help = "\
Examples:
  outpost release sign --key outpost-release.key stable.json")]
        Sign {
            #[arg(long, value_name = "FILE")]
            key: PathBuf,
            #[arg(value_name = "FILE")]
            file: PathBuf,
        },
        /// Vouch for a new key with a trusted one: writes DIR/keys/KEYID.json and its .minisig.
        #[command(after_help = "\
Examples:
  outpost release rotate --key old.key --new new.pub --out site/channels")]
        Rotate {
            /// The trusted (old) secret key.
            #[arg(long, value_name = "FILE")]
            key: PathBuf,
            /// The new key's .pub file.
            #[arg(long, value_name = "FILE")]
            new: PathBuf,
            #[arg(long, value_name = "DIR")]
            out: PathBuf,
            #[arg(long)]
            comment: Option<String>,
        },
    }

    pub fn run_release(cmd: ReleaseCommand) -> ExitCode {
        match release(cmd) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("outpost release: {e:#}");
                ExitCode::from(2)
            }
        }
    }

    fn password() -> Option<String> {
        std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty())
    }

    fn write_new(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        Ok(())
    }

    fn sibling_sig(path: &Path) -> PathBuf {
        let mut s = path.as_os_str().to_owned();
        s.push(".minisig");
        PathBuf::from(s)
    }

    fn release(cmd: ReleaseCommand) -> anyhow::Result<()> {
        use outpost_update::signing;
        let pw = password();
        match cmd {
            ReleaseCommand::Keygen { out } => {
                std::fs::create_dir_all(&out)?;
                let k = signing::keygen(Some(pw.as_deref().unwrap_or_default()))?;
                write_new(&out.join("outpost-release.key"), &k.secret, 0o600)?;
                write_new(&out.join("outpost-release.pub"), &k.public, 0o644)?;
                println!(
                    "key {} written to {} (secret key {})",
                    k.id,
                    out.join("outpost-release.pub").display(),
                    if pw.is_some() {
                        "encrypted"
                    } else {
                        "NOT encrypted"
                    }
                );
            }
            ReleaseCommand::Sign { key, file } => {
                let secret = std::fs::read_to_string(&key)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?;
                let data =
                    std::fs::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                // Only what an agent will accept gets signed.
                if let Err(m) = outpost_update::Manifest::parse(&data) {
                    outpost_update::RotationStatement::parse(&data)
                        .map_err(|_| anyhow::anyhow!("{}: not a manifest: {m}", file.display()))?;
                }
                let sig = signing::sign(&secret, pw.as_deref(), &data, None)?;
                let out = sibling_sig(&file);
                std::fs::write(&out, sig)?;
                println!("signed: {}", out.display());
            }
            ReleaseCommand::Rotate {
                key,
                new,
                out,
                comment,
            } => {
                let secret = std::fs::read_to_string(&key)?;
                let new_pub = outpost_update::TrustedKey::parse(&std::fs::read_to_string(&new)?)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", new.display()))?;
                let statement =
                    outpost_update::RotationStatement::new(&new_pub.base64, comment.as_deref())
                        .to_json();
                let sig = signing::sign(&secret, pw.as_deref(), statement.as_bytes(), None)?;
                let path = out.join(outpost_update::rotation::statement_path(new_pub.id));
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&path, statement)?;
                std::fs::write(sibling_sig(&path), sig)?;
                println!(
                    "rotation statement for key {}: {}",
                    new_pub.id,
                    path.display()
                );
            }
        }
        Ok(())
    }
}
