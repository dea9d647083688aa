//! `sleep`: waits, then succeeds. For exercising deadlines, cancellation and drains.

use std::time::Duration;

use outpost_core::{executor::ParamError, ExecError, Executor, JobContext};
use serde::{Deserialize, Serialize};

pub struct Sleep;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// How long to sleep.
    ms: u64,
}

#[derive(Serialize)]
pub struct Output {
    slept_ms: u64,
}

/// A day: anything longer is a mistake, not a test.
const MAX_MS: u64 = 24 * 3600 * 1000;

impl Executor for Sleep {
    type Params = Params;
    type Output = Output;

    fn kind(&self) -> &'static str {
        "sleep"
    }

    fn concurrency(&self) -> usize {
        1024
    }

    fn check(&self, p: &Params) -> Result<(), ParamError> {
        if p.ms > MAX_MS {
            return Err(ParamError {
                field: "ms".into(),
                message: format!("at most {MAX_MS}"),
            });
        }
        Ok(())
    }

    async fn run(&self, p: Params, _cx: JobContext) -> Result<Output, ExecError> {
        tokio::time::sleep(Duration::from_millis(p.ms)).await;
        Ok(Output { slept_ms: p.ms })
    }
}
