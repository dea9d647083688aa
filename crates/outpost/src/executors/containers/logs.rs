//! `container.logs`: the history (`tail`, `since`, `until`, `timestamps`) as the job's
//! output, or with `follow: true` every new line as a `container.log` event in the outbox,
//! at most `containers.logs_max_lines_per_sec` a second (the rest dropped and counted in
//! `/metrics`), until the container stops, the job's deadline, or a cancel. A followed job's
//! output is a summary: lines sent, lines dropped, and why it stopped.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use outpost_containers::logs::{LogHistory, LogLine, LogQuery};
use outpost_core::{
    executor::ParamError, Event, EventIds, ExecError, Executor, JobContext, Registry,
};
use serde::{Deserialize, Serialize};

use super::{check_ref, job_error, stop_at, Containers, Pace};

/// Event kind of a followed line.
pub const EVENT: &str = "container.log";

/// Lines gathered before they are written to the store in one go.
const BATCH_LINES: usize = 64;
/// The longest a followed line waits before it is written.
const BATCH_WAIT: Duration = Duration::from_millis(100);

pub fn register(reg: &mut Registry, c: &Containers) {
    reg.register(Logs(c.clone()));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsParams {
    pub id: String,
    #[serde(default)]
    pub tail: Option<u64>,
    #[serde(default)]
    pub since: Option<i64>,
    #[serde(default)]
    pub until: Option<i64>,
    #[serde(default)]
    pub timestamps: bool,
    #[serde(default)]
    pub follow: bool,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum LogsOutput {
    History(LogHistory),
    Followed(FollowSummary),
}

#[derive(Debug, Serialize)]
pub struct FollowSummary {
    pub lines_sent: u64,
    pub lines_dropped: u64,
    /// `ended` (the container stopped) or `deadline`. A cancelled follow is a cancelled
    /// job, with no output.
    pub stopped: &'static str,
}

#[derive(Serialize)]
struct LogEvent<'a> {
    job: String,
    container: &'a str,
    #[serde(flatten)]
    line: &'a LogLine,
}

pub struct Logs(Containers);

impl Executor for Logs {
    type Params = LogsParams;
    type Output = LogsOutput;

    fn kind(&self) -> &'static str {
        "container.logs"
    }

    /// Followed logs hold a stream each; a handful at once is plenty on a device.
    fn concurrency(&self) -> usize {
        16
    }

    fn check(&self, p: &LogsParams) -> Result<(), ParamError> {
        check_ref("id", &p.id)?;
        for (field, v) in [("since", p.since), ("until", p.until)] {
            if v.is_some_and(|v| !(0..=i64::from(i32::MAX)).contains(&v)) {
                return Err(ParamError {
                    field: field.into(),
                    message: "Unix seconds, 0 to 2147483647".into(),
                });
            }
        }
        if p.follow && p.until.is_some() {
            return Err(ParamError {
                field: "until".into(),
                message: "a followed log has no end time (use the job's timeout)".into(),
            });
        }
        Ok(())
    }

    async fn run(&self, p: LogsParams, cx: JobContext) -> Result<LogsOutput, ExecError> {
        let q = LogQuery {
            tail: p.tail,
            since: p.since,
            until: p.until,
            timestamps: p.timestamps,
        };
        if !p.follow {
            return self
                .0
                .engine
                .logs(&p.id, &q, self.0.logs_max_lines, cx.deadline)
                .await
                .map(LogsOutput::History)
                .map_err(job_error);
        }
        self.follow(&p.id, &q, &cx).await.map(LogsOutput::Followed)
    }
}

impl Logs {
    async fn follow(
        &self,
        id: &str,
        q: &LogQuery,
        cx: &JobContext,
    ) -> Result<FollowSummary, ExecError> {
        let c = &self.0;
        let mut lines = c
            .engine
            .logs_follow(id, q, cx.deadline)
            .await
            .map_err(job_error)?;
        let end = tokio::time::Instant::from_std(stop_at(cx.deadline));
        let mut pace = Pace::new(c.logs_max_lines_per_sec);
        let mut ids = EventIds::new();
        let mut batch: Vec<Event> = Vec::new();
        let mut summary = FollowSummary {
            lines_sent: 0,
            lines_dropped: 0,
            stopped: "ended",
        };
        let job = cx.id.to_string();
        let mut flush_at = tokio::time::Instant::now() + BATCH_WAIT;
        let failed = loop {
            tokio::select! {
                _ = tokio::time::sleep_until(end) => { summary.stopped = "deadline"; break None; }
                _ = cx.cancel.cancelled() => {
                    // The lines read so far are kept; the dispatcher records the cancel
                    // (a result from here would race it and could read as a success).
                    self.flush(&mut batch).await;
                    std::future::pending::<()>().await;
                }
                _ = tokio::time::sleep_until(flush_at), if !batch.is_empty() => {
                    self.flush(&mut batch).await;
                }
                next = lines.next() => match next {
                    // The stream also ends when the engine goes away: ask it.
                    None => break self.gone(cx.deadline).await,
                    Some(Err(e)) => break Some(e),
                    Some(Ok(line)) => {
                        if !pace.take(Instant::now()) {
                            summary.lines_dropped += 1;
                            c.metrics.log_lines_dropped.inc();
                            continue;
                        }
                        let ev = LogEvent { job: job.clone(), container: id, line: &line };
                        if let Ok(payload) = serde_json::value::to_raw_value(&ev) {
                            if batch.is_empty() {
                                flush_at = tokio::time::Instant::now() + BATCH_WAIT;
                            }
                            batch.push(Event::encoded(&mut ids, EVENT, payload));
                            summary.lines_sent += 1;
                            c.metrics.log_lines_sent.inc();
                        }
                        if batch.len() >= BATCH_LINES {
                            self.flush(&mut batch).await;
                        }
                    }
                }
            }
        };
        self.flush(&mut batch).await;
        match failed {
            None => Ok(summary),
            Some(e) => {
                let code = e.code();
                Err(ExecError::new(
                    code,
                    format!(
                        "{e} (after {} lines sent, {} dropped)",
                        summary.lines_sent, summary.lines_dropped
                    ),
                ))
            }
        }
    }

    /// After a stream ended: the engine's unavailability, if that is why.
    async fn gone(&self, deadline: Instant) -> Option<outpost_containers::EngineError> {
        let by = deadline.min(Instant::now() + Duration::from_secs(2));
        match self.0.engine.ping(by).await {
            Err(e @ outpost_containers::EngineError::Unavailable { .. }) => Some(e),
            _ => None,
        }
    }

    async fn flush(&self, batch: &mut Vec<Event>) {
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.0.store.append_events(std::mem::take(batch)).await {
            tracing::error!(error = %e, "containers: storing log events failed");
        }
    }
}
