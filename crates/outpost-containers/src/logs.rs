//! Container logs: the history (`tail`, `since`, `until`, timestamps) as lines, and the
//! followed stream as lines for the caller to pace. A line is the container's bytes up to a
//! newline, as lossy UTF-8, cut at [`LINE_MAX`] bytes.

use std::time::Instant;

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::EngineError;

/// Longest line kept, in bytes; the rest of the line is dropped (and marked).
pub const LINE_MAX: usize = 16 * 1024;

/// Which logs, as `container.logs` params carry them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogQuery {
    /// The last N lines; all when absent.
    #[serde(default)]
    pub tail: Option<u64>,
    /// Unix seconds: only lines from then on.
    #[serde(default)]
    pub since: Option<i64>,
    /// Unix seconds: only lines before then.
    #[serde(default)]
    pub until: Option<i64>,
    /// Each line with the engine's RFC 3339 timestamp (`ts`).
    #[serde(default)]
    pub timestamps: bool,
}

/// One line of a container's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `stdout` or `stderr` (`console` for a container with a TTY).
    pub stream: &'static str,
    /// The engine's timestamp, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    pub line: String,
    /// The line was longer than [`LINE_MAX`] and was cut.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
}

fn options(q: &LogQuery, follow: bool) -> LogsOptions {
    let secs = |s: Option<i64>| {
        s.map(|s| i32::try_from(s.max(0)).unwrap_or(i32::MAX))
            .unwrap_or(0)
    };
    LogsOptions {
        follow,
        stdout: true,
        stderr: true,
        since: secs(q.since),
        until: secs(q.until),
        timestamps: q.timestamps,
        tail: q.tail.map_or_else(|| "all".to_owned(), |n| n.to_string()),
    }
}

/// The lines of one chunk the engine sent (a frame is usually one line, may be several).
fn lines(chunk: LogOutput, timestamps: bool) -> Vec<LogLine> {
    let (stream, bytes) = match chunk {
        LogOutput::StdOut { message } => ("stdout", message),
        LogOutput::StdErr { message } => ("stderr", message),
        LogOutput::Console { message } => ("console", message),
        LogOutput::StdIn { message } => ("stdin", message),
    };
    let mut out = Vec::new();
    let mut rest: &[u8] = &bytes;
    if rest.ends_with(b"\n") {
        rest = &rest[..rest.len() - 1];
    }
    for raw in rest.split(|b| *b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let (ts, body) = if timestamps {
            match raw.iter().position(|b| *b == b' ') {
                Some(i) => (
                    Some(String::from_utf8_lossy(&raw[..i]).into_owned()),
                    &raw[i + 1..],
                ),
                None => (None, raw),
            }
        } else {
            (None, raw)
        };
        let cut = body.len() > LINE_MAX;
        let body = &body[..body.len().min(LINE_MAX)];
        out.push(LogLine {
            stream,
            ts,
            line: String::from_utf8_lossy(body).into_owned(),
            cut,
        });
    }
    out
}

/// The history, at most `max_lines` of it (the rest is counted in the second value).
#[derive(Debug, Clone, Serialize)]
pub struct LogHistory {
    pub lines: Vec<LogLine>,
    /// Lines beyond `max_lines`, read and dropped.
    pub dropped: u64,
}

impl Engine {
    /// The logs up to now.
    pub async fn logs(
        &self,
        id: &str,
        q: &LogQuery,
        max_lines: usize,
        deadline: Instant,
    ) -> Result<LogHistory, EngineError> {
        let opts = options(q, false);
        let ts = q.timestamps;
        self.call_with(deadline, |d| async move {
            let mut s = d.logs(id, Some(opts));
            let mut h = LogHistory {
                lines: Vec::new(),
                dropped: 0,
            };
            while let Some(chunk) = s.next().await {
                for l in lines(chunk.map_err(|e| self.map(e))?, ts) {
                    if h.lines.len() < max_lines {
                        h.lines.push(l);
                    } else {
                        h.dropped += 1;
                    }
                }
            }
            Ok(h)
        })
        .await
    }

    /// The logs from `q` on, then every new line until the container stops or the caller
    /// drops the stream. Connecting is bounded by `deadline`; the stream by its caller.
    pub async fn logs_follow(
        &self,
        id: &str,
        q: &LogQuery,
        deadline: Instant,
    ) -> Result<BoxStream<'static, Result<LogLine, EngineError>>, EngineError> {
        let d = self.client_by(deadline).await?;
        let ts = q.timestamps;
        let engine = self.clone();
        Ok(d.logs(id, Some(options(q, true)))
            .flat_map(move |chunk| {
                let items: Vec<Result<LogLine, EngineError>> = match chunk {
                    Ok(c) => lines(c, ts).into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(engine.map(e))],
                };
                stream::iter(items)
            })
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue15_a_chunk_splits_into_lines_with_timestamps() {
        let chunk = LogOutput::StdErr {
            message: bytes::Bytes::from_static(
                b"2026-01-01T00:00:00.1Z one\n2026-01-01T00:00:00.2Z two\n",
            ),
        };
        let got = lines(chunk, true);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].stream, "stderr");
        assert_eq!(got[0].ts.as_deref(), Some("2026-01-01T00:00:00.1Z"));
        assert_eq!(got[1].line, "two");
    }

    #[test]
    fn issue15_a_long_line_is_cut_and_marked() {
        let chunk = LogOutput::StdOut {
            message: bytes::Bytes::from(vec![b'x'; LINE_MAX + 10]),
        };
        let got = lines(chunk, false);
        assert!(got[0].cut);
        assert_eq!(got[0].line.len(), LINE_MAX);
    }
}
