//! The contract between the dispatcher and the code that does the work.
//!
//! An executor declares typed params and a typed output. The registry erases the types so
//! the dispatcher can hold every kind in one map, but parsing happens once, at the edge,
//! when a job is accepted: a job that is queued is a job whose params were valid.

use std::{collections::BTreeMap, future::Future, pin::Pin, sync::Arc, time::Instant};

use serde::{de::DeserializeOwned, Serialize};
use tokio_util::sync::CancellationToken;

use crate::{job::JobId, json::RawJson};

/// What a running job may know about itself.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub id: JobId,
    /// Where the job came from (`api`, an uplink's name, ...), for executors that record
    /// who asked (the exec audit log).
    pub source: String,
    /// When the dispatcher will stop waiting. Executors that talk to the network should
    /// pass it down so their own retries fit inside it.
    pub deadline: Instant,
    /// Fires on cancel or shutdown. The dispatcher also drops the future, so checking it is
    /// only needed around work that must be undone or that runs outside the future.
    pub cancel: CancellationToken,
}

/// How an executor reports failure: a stable code and a message without secrets.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ExecError {
    pub code: String,
    pub message: String,
}

impl ExecError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ExecError {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Params failed validation. `field` is the JSON path of the offending field (`""` for the
/// whole object) so an API can name it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid params{}: {message}", if field.is_empty() { String::new() } else { format!(" at `{field}`") })]
pub struct ParamError {
    pub field: String,
    pub message: String,
}

/// One kind of work.
pub trait Executor: Send + Sync + 'static {
    type Params: DeserializeOwned + Send + 'static;
    type Output: Serialize + Send + 'static;

    /// The job kind it serves, e.g. `echo`.
    fn kind(&self) -> &'static str;

    /// How many jobs of this kind may run at once.
    fn concurrency(&self) -> usize {
        64
    }

    /// Checks beyond what the params' types express (ranges, allowlists).
    fn check(&self, _params: &Self::Params) -> Result<(), ParamError> {
        Ok(())
    }

    /// What of the params may be stored and shown back. Executors whose params carry
    /// secrets must override this.
    fn redact(&self, params: &serde_json::Value) -> serde_json::Value {
        params.clone()
    }

    fn run(
        &self,
        params: Self::Params,
        cx: JobContext,
    ) -> impl Future<Output = Result<Self::Output, ExecError>> + Send;
}

pub(crate) type BoxRun = Pin<Box<dyn Future<Output = Result<RawJson, ExecError>> + Send + 'static>>;

/// A validated job, ready to run once.
pub(crate) type Prepared = Box<dyn FnOnce(JobContext) -> BoxRun + Send>;

/// The type-erased face of an [`Executor`].
pub(crate) trait ErasedExecutor: Send + Sync {
    fn prepare(&self, params: &serde_json::Value) -> Result<Prepared, ParamError>;
    fn redact(&self, params: &serde_json::Value) -> serde_json::Value;
    fn concurrency(&self) -> usize;
}

struct Erased<E>(Arc<E>);

impl<E: Executor> ErasedExecutor for Erased<E> {
    fn prepare(&self, params: &serde_json::Value) -> Result<Prepared, ParamError> {
        let typed: E::Params = serde_path_to_error::deserialize(params).map_err(|e| {
            let field = e.path().to_string();
            ParamError {
                field: if field == "." { String::new() } else { field },
                message: e.into_inner().to_string(),
            }
        })?;
        self.0.check(&typed)?;
        let exec = Arc::clone(&self.0);
        Ok(Box::new(move |cx| {
            Box::pin(async move {
                let out = exec.run(typed, cx).await?;
                // Straight to text, once: the store, the outbox, the API and the uplinks
                // share it from here on.
                RawJson::to_raw(&out)
                    .map_err(|e| ExecError::new("output", format!("output not serializable: {e}")))
            })
        }))
    }

    fn redact(&self, params: &serde_json::Value) -> serde_json::Value {
        self.0.redact(params)
    }

    fn concurrency(&self) -> usize {
        self.0.concurrency().max(1)
    }
}

/// Every kind this agent serves. Built once at start-up; immutable afterwards.
#[derive(Default, Clone)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Arc<dyn ErasedExecutor>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an executor. A second executor for the same kind replaces the first; the
    /// wiring code is the only caller, so that is a programming error caught by tests.
    pub fn register<E: Executor>(&mut self, exec: E) -> &mut Self {
        self.kinds
            .insert(exec.kind(), Arc::new(Erased(Arc::new(exec))));
        self
    }

    /// Kinds served, sorted.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }

    /// Checks a kind and its params without running anything, as the dispatcher would on
    /// submission. For edges that want to reject bad input before they queue it.
    pub fn validate(
        &self,
        kind: &str,
        params: &serde_json::Value,
    ) -> Result<(), crate::SubmitError> {
        let exec = self
            .get(kind)
            .ok_or_else(|| crate::SubmitError::unknown_kind(kind, self.kinds()))?;
        let _unrun = exec.prepare(params)?;
        Ok(())
    }

    /// What of `params` a job of `kind` may store and show back (secrets erased), as its
    /// executor says; `None` for a kind this registry does not serve. Where the result
    /// differs from `params` is what must be kept secret (sealed at rest).
    pub fn redact(&self, kind: &str, params: &serde_json::Value) -> Option<serde_json::Value> {
        Some(self.get(kind)?.redact(params))
    }

    pub(crate) fn get(&self, kind: &str) -> Option<&Arc<dyn ErasedExecutor>> {
        self.kinds.get(kind)
    }
}
