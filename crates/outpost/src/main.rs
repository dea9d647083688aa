//! `outpost`: the agent binary. It parses the command line, loads configuration and wires
//! the core, the executors and the edges together; the work itself lives in the crates.
// `deny`, not `forbid`: the one exception is `libm_shim`'s exported symbols.
#![deny(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use outpost::{cli, config, config_cmd, daemon};

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod libm_shim;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let res = match cli.command {
        cli::Command::Run(args) if args.supervised => {
            return match outpost::probation::run_supervised_from_args(&args) {
                Ok(code) => ExitCode::from(code),
                Err(e) => {
                    eprintln!("outpost: {e:#}");
                    ExitCode::from(1)
                }
            };
        }
        cli::Command::Run(args) => daemon::run(args),
        cli::Command::Config(cmd) => config_cmd::run(cmd),
        #[cfg(feature = "tools")]
        cli::Command::Ctl(args) => match outpost::ctl::run(args) {
            Ok(()) => Ok(()),
            Err(outpost::ctl::CtlError::Usage(m)) => {
                eprintln!("outpost ctl: {m}");
                return ExitCode::from(2);
            }
            Err(e) => Err(e.into()),
        },
        #[cfg(feature = "tools")]
        cli::Command::Snmp { args } => return outpost::snmp_cmd::run(&args),
        #[cfg(feature = "probes")]
        cli::Command::Ping { args } => return outpost::ping_cmd::run(&args),
        #[cfg(feature = "tools")]
        cli::Command::Metrics(args) => outpost::metrics_cmd::run(args),
        #[cfg(feature = "tools")]
        cli::Command::Traps(cmd) => outpost::traps_cmd::run(cmd),
        #[cfg(feature = "exec")]
        cli::Command::Audit(cli::AuditCommand::Verify { file, json }) => {
            return audit_verify(&file, json);
        }
        cli::Command::Secrets(cmd) => secrets_cmd(cmd),
        #[cfg(feature = "schedules")]
        cli::Command::Schedules(args) => match outpost::ctl::schedules::run(args) {
            Ok(()) => Ok(()),
            Err(outpost::ctl::CtlError::Usage(m)) => {
                eprintln!("outpost schedules: {m}");
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("outpost schedules: {e}");
                return ExitCode::from(1);
            }
        },
        #[cfg(feature = "containers")]
        cli::Command::Containers(args) => match outpost::ctl::containers::run(args) {
            Ok(()) => Ok(()),
            Err(outpost::ctl::CtlError::Failed(m)) => {
                eprintln!("outpost containers: {m}");
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("outpost containers: {e}");
                return ExitCode::from(2);
            }
        },
        #[cfg(feature = "update")]
        cli::Command::Update(cmd) => return outpost::update_cmd::run(cmd),
        #[cfg(feature = "release-tool")]
        cli::Command::Release(cmd) => return outpost::update_cmd::run_release(cmd),
        #[cfg(feature = "generate")]
        cli::Command::Generate(cmd) => outpost::generate_cmd::run(cmd),
        cli::Command::Version { json, verbose } => {
            let v = outpost::version::get();
            let features = outpost::version::features();
            match (json, verbose) {
                (true, false) => {
                    println!("{}", serde_json::json!({ "name": "outpost", "version": v }))
                }
                (true, true) => println!(
                    "{}",
                    serde_json::json!({ "name": "outpost", "version": v, "features": features })
                ),
                (false, false) => println!("outpost {v}"),
                (false, true) => println!("outpost {v}\nfeatures: {}", features.join(" ")),
            }
            Ok(())
        }
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outpost: {e:#}");
            if e.downcast_ref::<config::ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

#[cfg(feature = "exec")]
/// `outpost audit verify`: 0 when the chain is intact, 1 naming the first bad line.
fn audit_verify(file: &std::path::Path, json: bool) -> ExitCode {
    match outpost_exec::verify(file) {
        Ok(r) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": true, "lines": r.lines, "head": r.head})
                );
            } else {
                println!("{}: ok, {} lines, head {}", file.display(), r.lines, r.head);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "line": e.line, "error": e.failure.to_string()})
                );
            } else {
                eprintln!("outpost audit verify: {}: {e}", file.display());
            }
            ExitCode::from(1)
        }
    }
}

/// `outpost secrets rotate`.
fn secrets_cmd(cmd: cli::SecretsCommand) -> anyhow::Result<()> {
    let cli::SecretsCommand::Rotate {
        file,
        data_dir,
        new_key_file,
        json,
    } = cmd;
    let mut flags = Vec::new();
    if let Some(d) = &data_dir {
        flags.push((
            "--data-dir",
            "data_dir",
            toml::Value::String(d.display().to_string()),
        ));
    }
    let loaded = config::load(config::Sources {
        file: file.config.as_deref(),
        env: &|k| std::env::var(k).ok(),
        flags,
    })?;
    let cfg = loaded.config;
    let data_dir = cfg.data_dir()?;
    let db = data_dir.join(daemon::STORE_FILE);
    let r = outpost::secrets::rotate(&cfg, &data_dir, &db, new_key_file.as_deref())?;
    if json {
        println!(
            "{}",
            serde_json::json!({"ok": true, "from": r.from, "to": r.to, "rows": r.rows})
        );
    } else {
        println!(
            "re-sealed {} rows: key {} replaced by {}",
            r.rows, r.from, r.to
        );
    }
    Ok(())
}
