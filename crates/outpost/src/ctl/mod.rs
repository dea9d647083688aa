//! `outpost ctl`: a small controller for people and tests. It drives an agent over its MQTT
//! topics (as a control plane would) or over its local API.

#[cfg(feature = "tools")]
mod api;
#[cfg(feature = "containers")]
pub mod containers;
#[cfg(feature = "tools")]
mod mqtt;
#[cfg(any(feature = "schedules", feature = "containers"))]
pub mod schedules;

#[cfg(feature = "tools")]
use std::time::Duration;

#[cfg(feature = "tools")]
use clap::{Args, Subcommand};

#[cfg(feature = "tools")]
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  outpost ctl --broker mqtt://127.0.0.1:1883 --agent edge-1 run agent.info
  outpost ctl --broker mqtt://127.0.0.1:1883 --pool probes run echo --params '{\"x\":1}'
  outpost ctl --broker mqtt://127.0.0.1:1883 --agent edge-1 watch
  outpost ctl --api http://127.0.0.1:7070 --token \"$(cat ~/.local/state/outpost/token)\" run sleep --params '{\"ms\":500}'
  outpost ctl --api http://127.0.0.1:7070 get 01a2...
  outpost ctl --api http://127.0.0.1:7070 watch --after 0

Exit codes: 0 ok (and, for run, the job succeeded), 1 runtime failure or the job did not succeed, 2 bad usage.")]
pub struct CtlArgs {
    /// Drive the agent through an MQTT broker (mqtt://HOST:PORT or mqtts://HOST:PORT).
    #[arg(long, value_name = "URL", conflicts_with = "api")]
    pub broker: Option<String>,
    /// The agent's id (MQTT).
    #[arg(long, value_name = "ID")]
    pub agent: Option<String>,
    /// Send the job to this pool instead of one agent (MQTT).
    #[arg(long, value_name = "NAME", conflicts_with = "agent")]
    pub pool: Option<String>,
    /// Drive the agent through its local API.
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    /// API token (or OUTPOST_TOKEN).
    #[arg(
        long,
        env = "OUTPOST_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Machine output: one JSON document per line (the default output is already JSON;
    /// accepted for symmetry with the other subcommands).
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[cfg(feature = "tools")]
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Run a job and print its result.
    Run {
        kind: String,
        /// Job params as JSON.
        #[arg(long, default_value = "{}")]
        params: String,
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// How long to wait for the result, in seconds.
        #[arg(long, default_value_t = 30.0)]
        wait: f64,
    },
    /// Print one job (local API only).
    Get { id: String },
    /// Print results and events as they arrive.
    Watch {
        /// Replay the outbox after this sequence number first (local API only).
        #[arg(long)]
        after: Option<u64>,
    },
}

/// Usage errors exit 2; everything else 1.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
    /// The job ran and did not succeed; its record was printed.
    #[error("job ended as {0}")]
    JobNotOk(String),
}

#[cfg(feature = "tools")]
pub fn run(args: CtlArgs) -> Result<(), CtlError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::Failed(format!("runtime: {e}")))?;
    rt.block_on(async move {
        if let CtlCommand::Run { wait, .. } = &args.command {
            if !wait.is_finite() || *wait <= 0.0 || *wait > 3600.0 {
                return Err(CtlError::Usage(
                    "--wait must be between 0 and 3600 seconds".into(),
                ));
            }
        }
        match (&args.broker, &args.api) {
            (Some(b), None) => mqtt::run(b, &args).await,
            (None, Some(a)) => api::run(a, &args).await,
            _ => Err(CtlError::Usage(
                "give --broker URL (MQTT) or --api URL (local API)".into(),
            )),
        }
    })
}

#[cfg(feature = "tools")]
fn parse_params(text: &str) -> Result<serde_json::Value, CtlError> {
    serde_json::from_str(text).map_err(|e| CtlError::Usage(format!("--params is not JSON: {e}")))
}

#[cfg(feature = "tools")]
fn wait_of(secs: f64) -> Duration {
    Duration::from_secs_f64(secs)
}

#[cfg(feature = "tools")]
/// Prints a job record; fails if it did not succeed.
fn finish(record: &serde_json::Value) -> Result<(), CtlError> {
    println!("{record}");
    match record["state"].as_str() {
        Some("succeeded") => Ok(()),
        Some(other) => Err(CtlError::JobNotOk(other.to_owned())),
        None => Err(CtlError::Failed("no state in the record".into())),
    }
}
