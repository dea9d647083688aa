//! An interactive command with a terminal inside a running container (the engine's exec
//! with a TTY and stdin attached): what a remote terminal session runs. As for
//! [`exec`](crate::exec), what may run is not decided here: the caller passes an argv the
//! agent's allowlist has already authorized. The output is the TTY's raw bytes; the input
//! is written as typed; the size follows the client's window.

use std::pin::Pin;
use std::time::Instant;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use tokio::io::AsyncWrite;

use crate::engine::Engine;
use crate::error::EngineError;

/// A running terminal: its exec id (for [`Engine::pty_resize`]), its output and its input.
pub struct Pty {
    pub exec_id: String,
    /// The TTY's bytes until the command ends (the stream ends) or the engine goes away.
    pub output: BoxStream<'static, Result<Bytes, EngineError>>,
    /// What is written here is typed into the terminal.
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
}

impl Engine {
    /// Starts `argv` in container `id` with a TTY of `height` × `width` and stdin attached.
    /// Starting is bounded by `deadline`; the session by its caller (dropping the [`Pty`]
    /// detaches; the command then sees its terminal hang up).
    pub async fn pty(
        &self,
        id: &str,
        argv: Vec<String>,
        env: Vec<String>,
        (height, width): (u16, u16),
        deadline: Instant,
    ) -> Result<Pty, EngineError> {
        let opts = CreateExecOptions {
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(true),
            cmd: Some(argv),
            env: Some(env),
            ..Default::default()
        };
        let engine = self.clone();
        self.call_with(deadline, |d| async move {
            let made = d.create_exec(id, opts).await.map_err(|e| engine.map(e))?;
            let started = d
                .start_exec(
                    &made.id,
                    Some(StartExecOptions {
                        detach: false,
                        tty: true,
                        output_capacity: None,
                    }),
                )
                .await
                .map_err(|e| engine.map(e))?;
            let StartExecResults::Attached { output, input } = started else {
                return Err(engine.unavailable("the engine started the terminal detached"));
            };
            // A terminal's size is set once it runs; a failure here is not fatal.
            if let Err(e) = d
                .resize_exec(&made.id, ResizeExecOptions { height, width })
                .await
            {
                tracing::debug!(error = %e, "containers: the first terminal resize failed");
            }
            let e2 = engine.clone();
            let output = output
                .map(move |chunk| match chunk {
                    Ok(
                        LogOutput::Console { message }
                        | LogOutput::StdOut { message }
                        | LogOutput::StdErr { message },
                    ) => Ok(message),
                    Ok(LogOutput::StdIn { .. }) => Ok(Bytes::new()),
                    Err(e) => Err(e2.map(e)),
                })
                .boxed();
            Ok(Pty {
                exec_id: made.id,
                output,
                input,
            })
        })
        .await
    }

    /// Sets the terminal of exec `exec_id` to `height` rows × `width` columns.
    pub async fn pty_resize(
        &self,
        exec_id: &str,
        (height, width): (u16, u16),
        deadline: Instant,
    ) -> Result<(), EngineError> {
        self.call(deadline, |d| async move {
            d.resize_exec(exec_id, ResizeExecOptions { height, width })
                .await
        })
        .await
    }
}
