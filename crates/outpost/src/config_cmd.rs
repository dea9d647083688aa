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
            // The exec allowlist is part of the effective config: shown too, with every
            // environment value redacted (a command's env may carry a credential).
            let commands = loaded.config.commands.as_ref().map(redact_command_env);
            if json {
                let mut view = config::redacted_view(&loaded.values);
                if let (Some(obj), Some(c)) = (view.as_object_mut(), &commands) {
                    obj.insert(
                        "commands".into(),
                        serde_json::to_value(c).unwrap_or(serde_json::Value::Null),
                    );
                }
                println!("{view}");
            } else {
                for (name, (v, origin)) in &loaded.values {
                    println!("{name} = {}  # {origin}", config::shown(name, v));
                }
                if let Some(toml::Value::Table(t)) = &commands {
                    for (name, spec) in t {
                        let mut one = toml::Table::new();
                        one.insert(name.clone(), spec.clone());
                        let mut outer = toml::Table::new();
                        outer.insert("commands".into(), toml::Value::Table(one));
                        print!("\n{}", toml::to_string(&outer).unwrap_or_default());
                    }
                }
            }
            Ok(())
        }
    }
}

/// `[commands.NAME]` with every `env` value replaced by `[redacted]`.
fn redact_command_env(commands: &toml::Value) -> toml::Value {
    let mut c = commands.clone();
    if let toml::Value::Table(t) = &mut c {
        for (_, spec) in t.iter_mut() {
            if let Some(toml::Value::Table(env)) = spec.get_mut("env") {
                for (_, v) in env.iter_mut() {
                    *v = toml::Value::String("[redacted]".into());
                }
            }
        }
    }
    c
}

fn load(file: Option<&Path>) -> Result<config::Loaded, config::ConfigError> {
    config::load(Sources {
        file,
        env: &|k| std::env::var(k).ok(),
        flags: vec![],
    })
}
