//! `outpost schedules list|add|rm`: schedules through the agent's local API. Every check is
//! the agent's (the same as `POST /v1/schedules`): a refusal (400, 422) exits 2 with the
//! field it names, as does bad input caught here (`--params` not JSON, a label without
//! `=`, no token).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::CtlError;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  outpost schedules list
  outpost schedules add --id uptime --cron '*/5 * * * *' --tz Europe/Oslo --kind snmp.get \\
      --params '{\"target\":\"10.0.0.1\",\"version\":\"2c\",\"community\":\"public\",\"oids\":[\"1.3.6.1.2.1.1.3.0\"]}'
  outpost schedules add --every-ms 60000 --kind echo --overlap queue_one --label site=north
  outpost schedules add --spec '{\"when\":{\"every_ms\":60000},\"job\":{\"kind\":\"echo\"}}'
  outpost schedules rm uptime

The token is --token, OUTPOST_TOKEN, or the agent's token file in --data-dir (default
$XDG_STATE_HOME/outpost, else ~/.local/state/outpost).
Exit codes: 0 ok, 1 runtime failure (agent unreachable, no such schedule), 2 bad input.")]
pub struct SchedulesArgs {
    #[command(flatten)]
    pub local: LocalApi,
    /// One JSON document per line instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub command: SchedulesCommand,
}

/// Where the agent's local API is and how to authenticate to it: the flags every command
/// that drives a local agent shares (`outpost schedules`, `outpost containers`).
#[derive(Debug, Args)]
pub struct LocalApi {
    /// The agent's local API.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:7070")]
    pub api: String,
    /// API token (or OUTPOST_TOKEN; else read from DATA_DIR/token).
    #[arg(
        long,
        env = "OUTPOST_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Where the agent keeps its token file (config data_dir).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl LocalApi {
    /// The API's base URL, without a trailing slash.
    pub fn base(&self) -> String {
        self.api.trim_end_matches('/').to_owned()
    }

    /// The token: the flag, OUTPOST_TOKEN, or the token file.
    pub fn token(&self) -> Result<String, CtlError> {
        token_of(self.token.as_deref(), self.data_dir.as_deref())
    }
}

#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// Every schedule, by id.
    List,
    /// Add a schedule.
    Add(Box<AddArgs>),
    /// Remove a schedule.
    Rm { id: String },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The whole schedule as JSON (the body of POST /v1/schedules); excludes the flags below.
    #[arg(long, value_name = "JSON", conflicts_with_all = ["id", "cron", "every_ms", "kind"])]
    pub spec: Option<String>,
    /// Letters, digits and . _ - : @ + (generated when absent).
    #[arg(long)]
    pub id: Option<String>,
    /// A cron expression: five fields, or six with seconds first.
    #[arg(long, value_name = "EXPR", conflicts_with = "every_ms")]
    pub cron: Option<String>,
    /// The cron expression's time zone (IANA name; UTC if absent).
    #[arg(long, value_name = "ZONE", requires = "cron")]
    pub tz: Option<String>,
    /// A fixed interval in milliseconds.
    #[arg(long, value_name = "MS")]
    pub every_ms: Option<u64>,
    /// The job kind each due time submits.
    #[arg(long)]
    pub kind: Option<String>,
    /// The job's params as JSON.
    #[arg(long, default_value = "{}")]
    pub params: String,
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// skip or run_once: due times missed while the agent was stopped.
    #[arg(long)]
    pub missed: Option<String>,
    /// skip, queue_one or allow: a due time while the last job still runs.
    #[arg(long)]
    pub overlap: Option<String>,
    #[arg(long, value_name = "MS")]
    pub jitter_ms: Option<u64>,
    /// A label, NAME=VALUE (repeatable).
    #[arg(long = "label", value_name = "NAME=VALUE")]
    pub labels: Vec<String>,
}

/// The body of `POST /v1/schedules` the flags describe.
fn body(a: &AddArgs) -> Result<Value, CtlError> {
    if let Some(spec) = &a.spec {
        return serde_json::from_str(spec)
            .map_err(|e| CtlError::Usage(format!("--spec is not JSON: {e}")));
    }
    let params: Value = serde_json::from_str(&a.params)
        .map_err(|e| CtlError::Usage(format!("--params is not JSON: {e}")))?;
    let when = match (&a.cron, a.every_ms) {
        (Some(c), _) => json!({"cron": c, "tz": a.tz}),
        (None, Some(ms)) => json!({"every_ms": ms}),
        (None, None) => return Err(CtlError::Usage("give --cron EXPR or --every-ms MS".into())),
    };
    let Some(kind) = &a.kind else {
        return Err(CtlError::Usage(
            "give --kind (the job each due time submits)".into(),
        ));
    };
    let mut job = json!({"kind": kind, "params": params});
    if let Some(t) = a.timeout_ms {
        job["timeout_ms"] = t.into();
    }
    let mut labels = serde_json::Map::new();
    for l in &a.labels {
        let Some((k, v)) = l.split_once('=') else {
            return Err(CtlError::Usage(format!(
                "--label {l:?}: expected NAME=VALUE"
            )));
        };
        labels.insert(k.to_owned(), v.into());
    }
    let mut b = json!({"when": when, "job": job, "labels": labels});
    if let Some(tz) = b.pointer_mut("/when/tz") {
        if tz.is_null() {
            if let Some(w) = b["when"].as_object_mut() {
                w.remove("tz");
            }
        }
    }
    for (k, v) in [
        ("id", a.id.clone().map(Value::from)),
        ("missed", a.missed.clone().map(Value::from)),
        ("overlap", a.overlap.clone().map(Value::from)),
        ("jitter_ms", a.jitter_ms.map(Value::from)),
    ] {
        if let Some(v) = v {
            b[k] = v;
        }
    }
    Ok(b)
}

fn token(args: &SchedulesArgs) -> Result<String, CtlError> {
    args.local.token()
}

/// The token: given, else the agent's token file (shared with `outpost containers`).
pub(super) fn token_of(
    token: Option<&str>,
    data_dir: Option<&std::path::Path>,
) -> Result<String, CtlError> {
    if let Some(t) = token {
        return Ok(t.to_owned());
    }
    let dir = match data_dir {
        Some(d) => d.to_path_buf(),
        None => match std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
            Some(x) => PathBuf::from(x).join("outpost"),
            None => match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
                Some(h) => PathBuf::from(h).join(".local/state/outpost"),
                None => {
                    return Err(CtlError::Usage(
                        "give --token, OUTPOST_TOKEN or --data-dir".into(),
                    ))
                }
            },
        },
    };
    let file = dir.join("token");
    std::fs::read_to_string(&file)
        .map(|t| t.trim().to_owned())
        .map_err(|e| {
            CtlError::Usage(format!(
                "no token: {} ({e}); give --token or OUTPOST_TOKEN",
                file.display()
            ))
        })
}

/// The agent's answer; a refusal of the input exits 2, naming the field.
pub(super) async fn answer(r: reqwest::Response) -> Result<Value, CtlError> {
    let status = r.status();
    let text = r
        .text()
        .await
        .map_err(|e| CtlError::Failed(e.to_string()))?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(v);
    }
    let e = &v["error"];
    let msg = match (e["message"].as_str(), e["field"].as_str()) {
        (Some(m), Some(f)) if !m.contains(f) => format!("{f}: {m}"),
        (Some(m), _) => m.to_owned(),
        _ => format!("{status}: {text}"),
    };
    Err(match status.as_u16() {
        400 | 409 | 413 | 422 => CtlError::Usage(msg),
        _ => CtlError::Failed(msg),
    })
}

pub fn run(args: SchedulesArgs) -> Result<(), CtlError> {
    // Input errors before any connection.
    let add_body = match &args.command {
        SchedulesCommand::Add(a) => Some(body(a)?),
        _ => None,
    };
    let token = token(&args)?;
    let base = args.local.base();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::Failed(format!("runtime: {e}")))?;
    rt.block_on(async move {
        let http = reqwest::Client::new();
        let failed = |e: reqwest::Error| CtlError::Failed(format!("{base}: {e}"));
        match &args.command {
            SchedulesCommand::List => {
                let r = http
                    .get(format!("{base}/v1/schedules"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .map_err(failed)?;
                let v = answer(r).await?;
                let list = v["schedules"].as_array().cloned().unwrap_or_default();
                if args.json {
                    for s in &list {
                        println!("{s}");
                    }
                } else {
                    print_table(&list);
                }
                Ok(())
            }
            SchedulesCommand::Add(_) => {
                let r = http
                    .post(format!("{base}/v1/schedules"))
                    .bearer_auth(&token)
                    .json(&add_body)
                    .send()
                    .await
                    .map_err(failed)?;
                let v = answer(r).await?;
                if args.json {
                    println!("{v}");
                } else {
                    println!("added {}", v["id"].as_str().unwrap_or(""));
                }
                Ok(())
            }
            SchedulesCommand::Rm { id } => {
                let mut url = reqwest::Url::parse(&format!("{base}/v1/schedules/"))
                    .map_err(|e| CtlError::Usage(format!("--api: {e}")))?;
                url.path_segments_mut()
                    .map_err(|_| CtlError::Usage("--api: not a base URL".into()))?
                    .pop_if_empty()
                    .push(id);
                let r = http
                    .delete(url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .map_err(failed)?;
                answer(r).await?;
                if args.json {
                    println!("{}", json!({"id": id, "removed": true}));
                } else {
                    println!("removed {id}");
                }
                Ok(())
            }
        }
    })
}

fn print_table(list: &[Value]) {
    println!(
        "{:<24} {:<28} {:<14} {:<9} NEXT DUE (UTC ms)",
        "ID", "WHEN", "KIND", "OVERLAP"
    );
    for s in list {
        let when = match (&s["when"]["cron"], &s["when"]["every_ms"]) {
            (Value::String(c), _) => match s["when"]["tz"].as_str() {
                Some(tz) => format!("{c} ({tz})"),
                None => c.clone(),
            },
            (_, Value::Number(n)) => format!("every {n} ms"),
            _ => String::new(),
        };
        println!(
            "{:<24} {:<28} {:<14} {:<9} {}",
            s["id"].as_str().unwrap_or(""),
            when,
            s["job"]["kind"].as_str().unwrap_or(""),
            s["overlap"].as_str().unwrap_or(""),
            s["next_due"]
                .as_i64()
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
        );
    }
}
