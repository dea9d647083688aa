//! `outpost containers ps|logs|apps|apply`: the container engine through the agent's local
//! API, for people on the device (issue 15 §6). Each command is one job submitted with
//! `POST /v1/jobs?wait=`: `container.list`, `container.logs`, `app.status`, `app.apply`, so
//! the agent's checks, deadlines and audit apply as for any other client. Bad input (a
//! missing file, a refused param, no token) and a job that fails exit 2 with its message;
//! an agent that cannot be reached exits 1.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::schedules::{answer, LocalApi};
use super::CtlError;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  outpost containers ps
  outpost containers ps --all
  outpost containers logs web --tail 50
  outpost containers apps
  outpost containers apply ./web.yaml --name web

The token is --token, OUTPOST_TOKEN, or the agent's token file in --data-dir (default
$XDG_STATE_HOME/outpost, else ~/.local/state/outpost).
Exit codes: 0 ok, 1 the agent could not be reached, 2 bad input or the job failed.")]
pub struct ContainersArgs {
    #[command(flatten)]
    pub local: LocalApi,
    /// The job's output as JSON instead of a table or plain lines.
    #[arg(long)]
    pub json: bool,
    /// How long to wait for the agent's answer, in seconds.
    #[arg(long, default_value_t = 60)]
    pub wait: u64,
    #[command(subcommand)]
    pub command: ContainersCommand,
}

#[derive(Debug, Subcommand)]
pub enum ContainersCommand {
    /// Containers: running ones, or all with --all (container.list).
    Ps {
        #[arg(long)]
        all: bool,
    },
    /// A container's log history (container.logs).
    Logs {
        /// Container id or name.
        id: String,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<u64>,
        /// Prefix each line with the engine's timestamp.
        #[arg(long)]
        timestamps: bool,
    },
    /// Declared apps, each service's desired and actual state, restarts and last error
    /// (app.status).
    Apps,
    /// Declare an app from a Compose file (app.apply).
    Apply {
        /// A Compose YAML file.
        file: PathBuf,
        /// The app's name; default: the file's name without its extension.
        #[arg(long)]
        name: Option<String>,
    },
}

/// The job the command stands for: kind and params (input errors before any connection).
fn job(cmd: &ContainersCommand) -> Result<(&'static str, Value), CtlError> {
    Ok(match cmd {
        ContainersCommand::Ps { all } => ("container.list", json!({"all": all})),
        ContainersCommand::Logs {
            id,
            tail,
            timestamps,
        } => {
            let mut p = json!({"id": id, "timestamps": timestamps});
            if let Some(t) = tail {
                p["tail"] = (*t).into();
            }
            ("container.logs", p)
        }
        ContainersCommand::Apps => ("app.status", json!({})),
        ContainersCommand::Apply { file, name } => {
            let compose = std::fs::read_to_string(file)
                .map_err(|e| CtlError::Usage(format!("{}: {e}", file.display())))?;
            let name = match name {
                Some(n) => n.clone(),
                None => file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        CtlError::Usage(format!(
                            "{}: give --name (the file name is not one)",
                            file.display()
                        ))
                    })?
                    .to_owned(),
            };
            ("app.apply", json!({"name": name, "compose": compose}))
        }
    })
}

pub fn run(args: ContainersArgs) -> Result<(), CtlError> {
    if !(1..=3600).contains(&args.wait) {
        return Err(CtlError::Usage(
            "--wait must be between 1 and 3600 seconds".into(),
        ));
    }
    let (kind, params) = job(&args.command)?;
    let token = args.local.token()?;
    let base = args.local.base();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::Failed(format!("runtime: {e}")))?;
    let record = rt.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(args.wait + 10))
            .build()
            .map_err(|e| CtlError::Failed(e.to_string()))?;
        let body = json!({"kind": kind, "params": params, "timeout_ms": args.wait * 1000});
        let r = http
            .post(format!("{base}/v1/jobs?wait={}", args.wait.min(300)))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .map_err(|e| CtlError::Failed(format!("{base}: {e}")))?;
        answer(r).await
    })?;
    let output = match record["state"].as_str() {
        Some("succeeded") => &record["output"],
        Some(state) => {
            let e = &record["error"];
            let msg = match (e["code"].as_str(), e["message"].as_str()) {
                (Some(c), Some(m)) => format!("{kind}: {c}: {m}"),
                _ => format!("{kind}: the job ended as {state}"),
            };
            return Err(CtlError::Usage(msg));
        }
        None => return Err(CtlError::Failed(format!("{kind}: no state in {record}"))),
    };
    if args.json {
        println!("{output}");
        return Ok(());
    }
    match &args.command {
        ContainersCommand::Ps { .. } => print_ps(output),
        ContainersCommand::Logs { .. } => print_logs(output),
        ContainersCommand::Apps => print_services(output),
        // app.apply answers once converged: the app's services as they run now.
        ContainersCommand::Apply { .. } => print_services(&output["services"]),
    }
    Ok(())
}

/// app.status rows: one line per service.
fn print_services(output: &Value) {
    println!(
        "{:<16} {:<16} {:<8} {:<10} {:>8}  LAST ERROR",
        "APP", "SERVICE", "DESIRED", "ACTUAL", "RESTARTS"
    );
    for s in output.as_array().into_iter().flatten() {
        let mut last = s["last_error"].as_str().unwrap_or("").to_owned();
        if s["crash_loop"].as_bool() == Some(true) {
            last = format!("crash loop: {last}");
        }
        println!(
            "{:<16} {:<16} {:<8} {:<10} {:>8}  {}",
            s["app"].as_str().unwrap_or(""),
            s["service"].as_str().unwrap_or(""),
            s["desired"].as_str().unwrap_or(""),
            s["actual"].as_str().unwrap_or("-"),
            s["restarts"].as_u64().unwrap_or(0),
            last,
        );
    }
}

fn print_ps(output: &Value) {
    println!(
        "{:<12}  {:<24} {:<24} {:<10} STATUS",
        "ID", "NAME", "IMAGE", "STATE"
    );
    for c in output.as_array().into_iter().flatten() {
        let id = c["id"].as_str().unwrap_or("");
        println!(
            "{:<12}  {:<24} {:<24} {:<10} {}",
            id.get(..12).unwrap_or(id),
            c["name"].as_str().unwrap_or(""),
            c["image"].as_str().unwrap_or(""),
            c["state"].as_str().unwrap_or(""),
            c["status"].as_str().unwrap_or(""),
        );
    }
}

fn print_logs(output: &Value) {
    for l in output["lines"].as_array().into_iter().flatten() {
        let line = l["line"].as_str().unwrap_or("");
        match l["ts"].as_str() {
            Some(ts) => println!("{ts} {line}"),
            None => println!("{line}"),
        }
    }
    if let Some(n) = output["dropped"].as_u64().filter(|n| *n > 0) {
        eprintln!("({n} lines beyond containers.logs_max_lines left out)");
    }
}
