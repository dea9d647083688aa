//! `execute_cmd` `{cmd, blocking, args?, timeout?}` as an Outpost `exec` job. Reagent ran
//! `cmd` with `args` on the host, unchecked and without a privilege check. Here the command
//! line is plain words: the first names a `[commands.NAME]` entry, the others fill its
//! parameters (rusty_agent's mapping, `words.rs`), and the exec component checks, runs and
//! audits it. Shell text is never run: it is submitted as a command name exec refuses, so
//! the refusal is audited like every other.

use std::time::Duration;

use outpost_core::{Dispatcher, JobSpec, JobState};
use outpost_exec::Request;
use outpost_proto::wamp::Payload;
use serde_json::{json, Value};

use super::words::{self, Mapped, ParamOrder};

/// The audit trail's `who` for these jobs.
pub const SOURCE: &str = "reagent:execute_cmd";
/// How long a command may run.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The command line an `execute_cmd` invocation asks for: `cmd` and `args` joined by
/// spaces. Its arguments are kwargs or a dict in `args[0]` (Reagent read `args[0]`).
pub fn command_line(payload: &Payload) -> Result<String, String> {
    let obj = if !payload.kwargs.is_empty() {
        &payload.kwargs
    } else {
        match payload.args.first() {
            Some(Value::Object(o)) => o,
            Some(_) => {
                return Err("execute_cmd takes a dict {cmd, blocking, args?, timeout?}".into())
            }
            None => {
                return Err(
                    "execute_cmd needs {cmd, blocking, args?, timeout?}: no arguments".into(),
                )
            }
        }
    };
    let cmd = match obj.get("cmd") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err("cmd must be a non-empty string".into()),
    };
    if obj.get("blocking").and_then(Value::as_bool) == Some(false) {
        return Err("non-blocking execute_cmd (output streamed to cmd_output_<pid>) is not supported: send blocking: true".into());
    }
    let mut line = cmd;
    match obj.get("args") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for v in a {
                match v {
                    Value::String(s) => {
                        line.push(' ');
                        line.push_str(s);
                    }
                    _ => return Err("args must be a list of strings".into()),
                }
            }
        }
        Some(_) => return Err("args must be a list of strings".into()),
    }
    Ok(line)
}

/// What `text` is submitted as: an allowlisted command, or (shell text, unknown names) a
/// name exec refuses and audits. Never an inline script.
pub fn request(text: &str, order: &ParamOrder) -> Request {
    match words::map(text, order, false) {
        Mapped::Command(r) => r,
        Mapped::Shell { .. } | Mapped::Empty => Request::command(text),
    }
}

/// Runs `text` through the dispatcher; `[stdout]`, or why not.
pub async fn run(
    dispatcher: &Dispatcher,
    order: &ParamOrder,
    text: &str,
) -> Result<Payload, String> {
    let req = request(text, order);
    let spec = JobSpec {
        id: None,
        kind: crate::executors::exec::KIND.into(),
        params: serde_json::to_value(&req).map_err(|e| format!("request not encodable: {e}"))?,
        timeout: TIMEOUT,
        source: SOURCE.into(),
    };
    let submitted = dispatcher
        .submit(spec)
        .await
        .map_err(|e| format!("refused: {}: {e}", e.code()))?;
    let rec = dispatcher
        .wait(submitted.id, TIMEOUT + Duration::from_secs(5))
        .await
        .map_err(|e| format!("the job store failed: {e}"))?
        .ok_or_else(|| "the job was lost".to_owned())?;
    let out = rec.output.as_ref().map(|o| o.to_value());
    match rec.state {
        JobState::Succeeded => {
            let stdout = out
                .as_ref()
                .and_then(|o| o.get("stdout"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Ok(Payload::args(vec![json!(stdout)]))
        }
        state => {
            let (code, msg) = rec
                .error
                .as_ref()
                .map(|e| (e.code.clone(), e.message.clone()))
                .unwrap_or_else(|| (state.as_str().to_owned(), String::new()));
            let hint = match words::shell_meta(text) {
                Some(c) => format!(
                    " (shell metacharacter {c:?}: only allowlisted commands run, as plain words)"
                ),
                None => String::new(),
            };
            Err(format!("refused: {code}: {msg}{hint}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> Payload {
        Payload::args(vec![v])
    }

    #[test]
    fn issue19_execute_cmd_arguments() {
        assert_eq!(
            command_line(&args(
                json!({"cmd": "say", "args": ["hi"], "blocking": true})
            )),
            Ok("say hi".into())
        );
        let mut kw = Payload::default();
        kw.kwargs.insert("cmd".into(), json!("uptime"));
        assert_eq!(command_line(&kw), Ok("uptime".into()));
        for bad in [
            Payload::default(),
            args(json!("ls")),
            args(json!({"cmd": ""})),
            args(json!({"cmd": 5})),
            args(json!({"cmd": "say", "args": [1]})),
            args(json!({"cmd": "say", "args": "hi"})),
            args(json!({"cmd": "say", "blocking": false})),
        ] {
            assert!(command_line(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn issue19_execute_cmd_shell_text_is_never_inline() {
        let order = ParamOrder::default();
        for text in ["ls; rm -rf /", "echo $(id)", "a | b", "x > /etc/passwd"] {
            let r = request(text, &order);
            assert_eq!(
                r.command.as_deref(),
                Some(text),
                "{text}: submitted as a name exec refuses"
            );
            assert!(r.inline.is_none(), "{text}");
        }
    }
}
