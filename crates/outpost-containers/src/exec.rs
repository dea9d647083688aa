//! Running a command inside a running container (the engine's exec). What may run is not
//! decided here: the agent's allowlist (outpost-exec) renders and authorizes the argv, and
//! this only carries it out, keeping at most `output_cap` bytes of stdout and of stderr.

use std::time::Instant;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use serde::Serialize;

use crate::engine::Engine;
use crate::error::EngineError;

/// What to run, already authorized.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    pub argv: Vec<String>,
    /// `K=V` pairs.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// Bytes kept of stdout, and of stderr, each; the rest is read and counted.
    pub output_cap: usize,
}

/// One output of the command, capped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Output {
    /// Lossy UTF-8 of the bytes kept.
    pub text: String,
    pub total_bytes: u64,
    pub dropped_bytes: u64,
}

impl Output {
    fn push(&mut self, kept: &mut Vec<u8>, bytes: &[u8], cap: usize) {
        self.total_bytes = self.total_bytes.saturating_add(bytes.len() as u64);
        let room = cap.saturating_sub(kept.len());
        let take = room.min(bytes.len());
        kept.extend_from_slice(&bytes[..take]);
        self.dropped_bytes = self
            .dropped_bytes
            .saturating_add((bytes.len() - take) as u64);
    }
}

/// How the command ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExecOutcome {
    /// `None` when the engine did not report one.
    pub exit_code: Option<i64>,
    pub stdout: Output,
    pub stderr: Output,
    pub duration_ms: u64,
}

impl Engine {
    /// Runs `spec` in container `id` and waits for it to end, within `deadline`. A command
    /// cut by the deadline keeps running in the container (the engine has no call to kill
    /// an exec); the error says so.
    pub async fn exec(
        &self,
        id: &str,
        spec: ExecSpec,
        deadline: Instant,
    ) -> Result<ExecOutcome, EngineError> {
        let began = Instant::now();
        let cap = spec.output_cap;
        let opts = CreateExecOptions {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(spec.argv),
            env: (!spec.env.is_empty()).then_some(spec.env),
            user: spec.user,
            working_dir: spec.working_dir,
            ..Default::default()
        };
        self.call_with(deadline, |d| async move {
            let made = d.create_exec(id, opts).await.map_err(|e| self.map(e))?;
            let started = d
                .start_exec(
                    &made.id,
                    Some(StartExecOptions {
                        detach: false,
                        tty: false,
                        output_capacity: None,
                    }),
                )
                .await
                .map_err(|e| self.map(e))?;
            let mut out = ExecOutcome::default();
            let (mut so, mut se) = (Vec::new(), Vec::new());
            if let StartExecResults::Attached { mut output, .. } = started {
                while let Some(chunk) = output.next().await {
                    match chunk.map_err(|e| self.map(e))? {
                        LogOutput::StdErr { message } => out.stderr.push(&mut se, &message, cap),
                        LogOutput::StdOut { message } | LogOutput::Console { message } => {
                            out.stdout.push(&mut so, &message, cap)
                        }
                        LogOutput::StdIn { .. } => {}
                    }
                }
            }
            out.stdout.text = String::from_utf8_lossy(&so).into_owned();
            out.stderr.text = String::from_utf8_lossy(&se).into_owned();
            let inspected = d.inspect_exec(&made.id).await.map_err(|e| self.map(e))?;
            out.exit_code = inspected.exit_code;
            out.duration_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
            Ok(out)
        })
        .await
        .map_err(|e| match e {
            EngineError::Unavailable { socket, why } if why.starts_with("no answer") => {
                EngineError::Unavailable {
                    socket,
                    why: format!("{why}; the command may still be running in the container"),
                }
            }
            e => e,
        })
    }
}
