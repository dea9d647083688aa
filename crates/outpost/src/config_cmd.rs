//! `outpost config check|show`.

use std::path::Path;

use crate::{
    cli::ConfigCommand,
    config::{self, Sources, KEYS},
};

pub fn run(cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Check { file, json } => {
            let path = file.config.ok_or_else(|| config::ConfigError::Invalid {
                key: "--config".into(),
                origin: "command line".into(),
                message: "give the file to check with --config FILE or OUTPOST_CONFIG".into(),
            })?;
            load(Some(&path))?;
            if json {
                println!("{}", serde_json::json!({ "ok": true, "file": path }));
            } else {
                println!("{}: ok", path.display());
            }
            Ok(())
        }
        ConfigCommand::Keys => {
            println!("| key | environment | default | meaning |");
            println!("|---|---|---|---|");
            for k in KEYS {
                println!(
                    "| `{}` | `{}` | {} | {} |",
                    k.name,
                    config::env_name(k.name),
                    k.default
                        .map(|d| format!("`{d}`"))
                        .unwrap_or_else(|| "unset".into()),
                    k.doc
                );
            }
            Ok(())
        }
        ConfigCommand::Show { file, json } => {
            let loaded = load(file.config.as_deref())?;
            let redacted = |name: &str, v: &toml::Value| {
                if KEYS.iter().any(|k| k.name == name && k.secret) {
                    toml::Value::String("[redacted]".into())
                } else {
                    v.clone()
                }
            };
            if json {
                println!("{}", config::redacted_view(&loaded.values));
            } else {
                for (name, (v, origin)) in &loaded.values {
                    println!("{name} = {}  # {origin}", redacted(name, v));
                }
            }
            Ok(())
        }
    }
}

fn load(file: Option<&Path>) -> Result<config::Loaded, config::ConfigError> {
    config::load(Sources {
        file,
        env: &|k| std::env::var(k).ok(),
        flags: vec![],
    })
}
