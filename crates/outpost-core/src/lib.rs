//! Outpost's core: the model (jobs, results, events), the executor contract, the
//! dispatcher that runs jobs within bounds and deadlines, and the store whose outbox
//! feeds every consumer.
//!
//! The core never names a transport: sources hand it validated [`JobSpec`]s and
//! sinks read the [`store::Store`]'s outbox. See ARCHITECTURE.md for the invariants.
#![forbid(unsafe_code)]

pub mod clock;
pub mod dispatcher;
pub mod encoded;
pub mod event;
pub mod executor;
pub mod job;
pub mod json;
pub mod metrics;
pub mod store;

pub use dispatcher::{AcceptedBatch, Dispatcher, DispatcherConfig, RecordedBatch, SubmitError};
pub use encoded::EncodedEvents;
pub use event::{Event, EventIds};
pub use executor::{ExecError, Executor, JobContext, Registry};
pub use job::{JobError, JobId, JobRecord, JobSpec, JobState};
pub use json::RawJson;
pub use metrics::CoreMetrics;
pub use store::{
    reseal_offline, AppRow, OutboxItem, OutboxRow, ResealError, ScheduleRow, SealedColumn, Store,
    StoreConfig, StoreError,
};
