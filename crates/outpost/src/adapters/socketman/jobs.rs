//! A SocketMan job as an Outpost `exec` job, and its result as SocketMan's replies.
//!
//! SocketMan ran `meta.msg` through `sh -c` as root. Here it is a command line of plain
//! words: the first names a `[commands.NAME]` entry, the others fill its parameters in
//! argv order (rusty_agent's mapping, `words.rs`), and the exec component checks, runs and
//! audits it like any other job. Shell text (`;`, `$(...)`, quotes, redirections, a
//! newline...) is never a command: it is submitted as a request exec refuses (a command
//! "name" that is not one), so the refusal is audited like every other. Only with
//! `socketman.allow_shell` does it run, as an inline `sh` script (which needs
//! `exec.allow_inline`), audited too.
//!
//! Jobs are submitted through the dispatcher and run on its tasks, never on the MQTT loop.
//! Their results reach SocketMan's topics through the outbox: the job's source,
//! `socketman:<id>`, is what the delivery side recognises them by.

use std::time::Duration;

use outpost_core::{Event, JobRecord, JobSpec, JobState};
use outpost_exec::Request;

use super::wire;
use super::words::{self, Mapped, ParamOrder};

/// The source of every job this adapter submits: `socketman:<SocketMan job id>`.
pub const SOURCE_PREFIX: &str = "socketman:";
/// The outbox event for a job refused before it became one (the dispatcher's queue full,
/// the store failing): `{"id": ..., "why": ...}`, answered like a refused job.
pub const REFUSED_EVENT: &str = "socketman.refused";

/// What a job's `meta.msg` is submitted as, or why it cannot be submitted at all.
pub fn request(
    msg: Option<&str>,
    order: &ParamOrder,
    allow_shell: bool,
) -> Result<Request, String> {
    let Some(text) = msg else {
        return Err("meta.msg: missing (a job needs a command line)".into());
    };
    match words::map(text, order, allow_shell) {
        Mapped::Empty => Err("meta.msg: empty".into()),
        // The recovery ladder's own steps (reboot, network restart) are `local_only` entries:
        // exec refuses them to any job, and audits the attempt (`monitor::adopt`).
        Mapped::Command(r) => Ok(r),
        Mapped::Shell { request, .. } if allow_shell => Ok(request),
        // Exec refuses it (a name with spaces or metacharacters is no command name) and
        // audits the attempt with the text; never an inline script here, even when
        // `exec.allow_inline` is on for other callers.
        Mapped::Shell { .. } => Ok(Request::command(text)),
    }
}

/// What a command from one of SocketMan's HTTP replies (boot, stats) is checked against:
/// the same allowlist mapping and shell switch as MQTT jobs, and the jobs' deadline.
#[derive(Clone)]
pub struct Policy {
    pub order: ParamOrder,
    pub allow_shell: bool,
    pub timeout: Duration,
}

/// Submits `cmd`, found in `from` (a reply or a config key), as an audited `exec` job with
/// source `<source_prefix><from>`: allowlisted words run, shell text is submitted as the
/// request exec refuses (so the refusal is audited), a shell only with `allow_shell`.
/// SocketMan owes no reply for these, so their source is never `socketman:`. Whatever
/// happens is logged; nothing is returned, as SocketMan's `popen` of a reply returned
/// nothing to the server.
pub async fn submit_reply_cmd(
    policy: &Policy,
    dispatcher: &outpost_core::Dispatcher,
    source_prefix: &str,
    from: &str,
    cmd: &str,
) {
    let spec = request(Some(cmd), &policy.order, policy.allow_shell).and_then(|req| {
        let mut spec = spec(from, &req, policy.timeout)?;
        spec.source = format!("{source_prefix}{from}");
        Ok(spec)
    });
    let why = match spec {
        Ok(spec) => match dispatcher.submit(spec).await {
            Ok(_) => {
                tracing::info!(
                    from,
                    "socketman: command from {source_prefix}{from} submitted"
                );
                return;
            }
            Err(e) => e.to_string(),
        },
        Err(why) => why,
    };
    tracing::warn!(from, why = %why, "socketman: command from {source_prefix}{from} not run");
}

/// The `cmd` of a reply (boot's, a stats upload's), if it is a JSON object with a
/// non-empty string `cmd`; anything else (not JSON, no `cmd`, not a string) is nothing to
/// run.
pub fn reply_cmd(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let cmd = v.get("cmd")?.as_str()?;
    (!cmd.is_empty()).then(|| cmd.to_owned())
}

/// The `exec` job for SocketMan job `id`.
pub fn spec(id: &str, req: &Request, timeout: Duration) -> Result<JobSpec, String> {
    Ok(JobSpec {
        id: None,
        kind: crate::executors::exec::KIND.into(),
        params: serde_json::to_value(req).map_err(|e| format!("request not encodable: {e}"))?,
        timeout,
        source: format!("{SOURCE_PREFIX}{id}"),
    })
}

/// The outbox event answering a job that never became one.
pub fn refused_event(id: &str, why: &str) -> Event {
    Event::new(REFUSED_EVENT, serde_json::json!({ "id": id, "why": why }))
}

/// How a job ended, for SocketMan's replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It ran: its stdout (SocketMan sent stdout whatever the exit status).
    Ran { stdout: String, ok: bool },
    /// Not run: why, for the refusal in DELIVERED and PROCESSED.
    Refused(String),
}

/// The SocketMan job id of an outbox result this adapter asked for.
pub fn job_id(record: &JobRecord) -> Option<&str> {
    record.source.strip_prefix(SOURCE_PREFIX)
}

/// Whether a result is a refusal, whose reply explains itself better with the command text
/// the job asked for (outbox rows carry no params: the caller reads them from the store).
pub fn refused(r: &JobRecord) -> bool {
    r.state == JobState::Failed && r.error.as_ref().is_some_and(|e| e.code != "exec_failed")
}

/// The command text a job asked for (its params, as stored).
pub fn asked(r: &JobRecord) -> Option<String> {
    let p = r.params.as_ref()?.to_value();
    p.get("command")?.as_str().map(str::to_owned)
}

/// How job `r` ended; `asked` is the command text it asked for, when known.
pub fn outcome(r: &JobRecord, asked: Option<&str>) -> Outcome {
    let out = r.output.as_ref().map(|o| o.to_value());
    match r.state {
        JobState::Succeeded => {
            let stdout = out
                .as_ref()
                .and_then(|o| o.get("stdout"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            let ok = out
                .as_ref()
                .and_then(|o| o.pointer("/exit/code"))
                .and_then(|c| c.as_i64())
                == Some(0);
            Outcome::Ran { stdout, ok }
        }
        // Timed out, cancelled, interrupted: it started, its output is gone.
        JobState::TimedOut | JobState::Cancelled | JobState::Interrupted => Outcome::Ran {
            stdout: String::new(),
            ok: false,
        },
        _ => {
            let (code, msg) = r
                .error
                .as_ref()
                .map(|e| (e.code.as_str(), e.message.as_str()))
                .unwrap_or((r.state.as_str(), ""));
            if code == "exec_failed" {
                return Outcome::Ran {
                    stdout: String::new(),
                    ok: false,
                };
            }
            let hint = match asked.and_then(words::shell_meta) {
                Some(c) => format!(
                    " (shell metacharacter {c:?}: only allowlisted commands run, as plain \
                     words; socketman.allow_shell is off)"
                ),
                None => String::new(),
            };
            Outcome::Refused(format!("refused: {code}: {msg}{hint}"))
        }
    }
}

/// Which topic a reply goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    Delivery,
    Publish,
}

/// What a `msg…` job reports: whether it succeeded, and its output (or refusal).
pub fn report(outcome: &Outcome) -> (bool, &str) {
    match outcome {
        Outcome::Ran { stdout, ok } => (*ok, stdout.as_str()),
        Outcome::Refused(why) => (false, why.as_str()),
    }
}

/// SocketMan's replies to job `id`, in the order they are published: PROCESSED (for a
/// `msg…` id, unless `rest` sends it by HTTP instead) then DELIVERED. `timestamp` is the
/// job's end, so a reply published again after a reconnect is the same message.
pub fn replies(id: &str, timestamp: i64, outcome: &Outcome, rest: bool) -> Vec<(Leg, Vec<u8>)> {
    let mut v = Vec::with_capacity(2);
    let refused = match outcome {
        Outcome::Ran { .. } => None,
        Outcome::Refused(why) => Some(why.as_str()),
    };
    if wire::wants_processed(id) && !rest {
        let msg = match outcome {
            Outcome::Ran { stdout, .. } => stdout.as_str(),
            Outcome::Refused(why) => why.as_str(),
        };
        v.push((Leg::Publish, wire::processed(id, timestamp, msg)));
    }
    v.push((Leg::Delivery, wire::delivered(id, timestamp, refused)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize as _;

    fn order() -> ParamOrder {
        let t: toml::Value = toml::from_str(
            r#"
[uptime]
argv = ["/usr/bin/uptime"]
[say]
argv = ["/bin/echo", "{word}"]
params.word = { type = "string", pattern = "[a-z]+" }
"#,
        )
        .unwrap();
        ParamOrder::of(&outpost_exec::Allowlist::deserialize(t).unwrap())
    }

    #[test]
    fn issue18_jobs_words_fill_params_and_shell_text_never_becomes_a_script_unless_allowed() {
        let o = order();
        let r = request(Some("say hi"), &o, false).unwrap();
        assert_eq!(r.command.as_deref(), Some("say"));
        assert_eq!(r.params["word"], "hi");
        let r = request(Some("say hi; reboot"), &o, false).unwrap();
        assert_eq!(r.command.as_deref(), Some("say hi; reboot"));
        assert!(r.inline.is_none());
        let r = request(Some("say hi; reboot"), &o, true).unwrap();
        assert!(r.inline.is_some() && r.command.is_none());
        // Not allowlisted: a command exec refuses; with allow_shell, a script.
        assert_eq!(
            request(Some("reboot"), &o, false)
                .unwrap()
                .command
                .as_deref(),
            Some("reboot")
        );
        assert!(request(Some("reboot"), &o, true).unwrap().inline.is_some());
        assert!(request(None, &o, true).is_err());
        assert!(request(Some(" \t"), &o, true).is_err());
    }

    /// The recovery ladder's built-in steps are in the allowlist (the monitor runs them),
    /// but a remote job naming one gets a request exec refuses and audits.
    #[cfg(feature = "connectivity")]
    #[test]
    fn issue18_jobs_replies_are_processed_then_delivered_for_msg_ids_only() {
        let ran = Outcome::Ran {
            stdout: "up 3 days\n".into(),
            ok: true,
        };
        let r = replies("msg42", 5, &ran, false);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0, Leg::Publish);
        assert_eq!(
            String::from_utf8(r[0].1.clone()).unwrap(),
            r#"{"id":"msg42","app":"socketman","timestamp":5,"event_type":"PROCESSED","meta":{"msg":"up 3 days\n"}}"#
        );
        assert_eq!(r[1].0, Leg::Delivery);
        let r = replies("job42", 5, &ran, false);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, Leg::Delivery);
        let r = replies("msg1", 5, &Outcome::Refused("refused: x".into()), false);
        let v: serde_json::Value = serde_json::from_slice(&r[0].1).unwrap();
        assert_eq!(v["meta"]["msg"], "refused: x");
        let v: serde_json::Value = serde_json::from_slice(&r[1].1).unwrap();
        assert_eq!(v["meta"]["delivered"], false);
        assert_eq!(v["meta"]["refused"], "refused: x");
        // rest = 1: DELIVERED only; the report goes by HTTP.
        let r = replies("msg42", 5, &ran, true);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, Leg::Delivery);
        assert_eq!(report(&ran), (true, "up 3 days\n"));
    }
}
