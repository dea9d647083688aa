//! `echo`: returns its params. Proves the pipeline end to end and measures its overhead.

use outpost_core::{ExecError, Executor, JobContext};

pub struct Echo;

impl Executor for Echo {
    type Params = serde_json::Value;
    type Output = serde_json::Value;

    fn kind(&self) -> &'static str {
        "echo"
    }

    fn concurrency(&self) -> usize {
        1024
    }

    async fn run(&self, params: Self::Params, _cx: JobContext) -> Result<Self::Output, ExecError> {
        Ok(params)
    }
}
