//! The durable store: jobs, their results, and the outbox every consumer reads.
//!
//! One thread does the store's work. Callers send it commands over a bounded channel and
//! await a reply; the thread groups whatever is waiting into one transaction (group
//! commit), so thousands of small writes cost a handful of fsyncs. A small write that finds
//! the store idle is committed on the caller's own thread instead, saving two thread
//! hand-offs (`inline.rs`). Either way a reply is sent only after the transaction commits:
//! a caller that is told "stored" can rely on it.

mod apps;
mod inline;
mod reseal;
mod rows;
mod schedules;
mod schema;
mod trim;
mod worker;

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, OnceLock,
    },
    thread,
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{
    event::Event,
    job::{JobId, JobRecord, JobState},
    metrics::CoreMetrics,
};

pub use apps::AppRow;
pub use reseal::{reseal_offline, ResealError, SealedColumn};
pub use schedules::ScheduleRow;
use worker::Command;

/// How the store is opened and bounded.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The SQLite file; its directory must exist.
    pub path: PathBuf,
    /// `true` syncs every commit to the platter (survives power loss). `false` (the
    /// default, SQLite's `synchronous=NORMAL` in WAL mode) survives any crash or `kill -9`
    /// of the process, which is the failure an agent meets; it may lose the last commits
    /// on power loss, in exchange for several times the write rate.
    pub sync_full: bool,
    /// Outbox rows kept at most; older ones are dropped (and counted if unacknowledged).
    pub outbox_max_rows: u64,
    /// Outbox rows older than this are dropped (and counted if unacknowledged).
    pub outbox_max_age: Duration,
    /// Finished jobs kept at most for `GET /v1/jobs`; the oldest go first.
    pub jobs_max_rows: u64,
    /// Finished jobs older than this are forgotten.
    pub jobs_max_age: Duration,
    /// The longest a caller waits for the store before giving up with an error.
    pub op_timeout: Duration,
}

impl StoreConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StoreConfig {
            path: path.into(),
            sync_full: false,
            outbox_max_rows: 1_000_000,
            outbox_max_age: Duration::from_secs(7 * 24 * 3600),
            jobs_max_rows: 100_000,
            jobs_max_age: Duration::from_secs(7 * 24 * 3600),
            op_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store: cannot create {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store: schema version {found} is newer than this agent understands ({known})")]
    TooNew { found: i64, known: i64 },
    /// A row read back does not decode: the file was damaged or written by something else.
    #[error("store: a stored row is corrupt: {0}")]
    Corrupt(String),
    /// A value could not be serialized for storage (nothing was written).
    #[error("store: cannot encode {0}")]
    Encode(String),
    /// The batch's transaction could not start; nothing of it ran.
    #[error("store: cannot begin a transaction: {0}")]
    Begin(String),
    /// The batch's transaction did not commit (a full disk, an I/O error): nothing of it
    /// was written, and the store's memory is as it was before the batch.
    #[error("store: commit failed, nothing of this batch was written: {0}")]
    Commit(String),
    /// Trimming by the outbox and job limits failed; nothing was trimmed or counted.
    #[error("store: trimming failed, nothing was trimmed: {0}")]
    Trim(String),
    /// An acknowledgement for a consumer that never registered.
    #[error("store: no outbox consumer named {0:?} is registered")]
    UnknownConsumer(String),
    #[error("store: closed")]
    Closed,
    #[error("store: no answer within {0:?}")]
    Timeout(Duration),
    #[error("store: job {0} already exists")]
    Duplicate(JobId),
    #[error("store: a schedule with id {0:?} already exists")]
    ScheduleExists(String),
}

/// What the outbox carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutboxItem {
    Result(JobRecord),
    Event(Event),
}

/// By hand: serde's derive for an internally tagged enum buffers the content in a form
/// that cannot hold an event's raw JSON payload. The item is taken as its JSON text and
/// decoded by [`OutboxItem::from_json`], the one place that reads the tag.
impl<'de> Deserialize<'de> for OutboxItem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        OutboxItem::from_json(raw.get()).map_err(D::Error::custom)
    }
}

impl OutboxItem {
    /// Decodes a row's text without a JSON tree in between: the tag is read first (every
    /// other field skipped), then the item straight from the text. Readers after a gap
    /// decode whole batches of rows, so this is on the delivery path.
    pub fn from_json(text: &str) -> Result<OutboxItem, serde_json::Error> {
        use serde::de::Error as _;
        #[derive(Deserialize)]
        struct Tag<'a> {
            #[serde(rename = "type", borrow)]
            kind: std::borrow::Cow<'a, str>,
        }
        let tag: Tag<'_> = serde_json::from_str(text)?;
        match &*tag.kind {
            "result" => serde_json::from_str(text).map(OutboxItem::Result),
            "event" => serde_json::from_str(text).map(OutboxItem::Event),
            _ => Err(serde_json::Error::custom(
                "outbox item: `type` is neither \"result\" nor \"event\"",
            )),
        }
    }
}

/// One outbox row: an item and its place in the sequence consumers acknowledge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRow {
    /// Strictly increasing, never reused, even after rows are removed.
    pub seq: u64,
    pub created_at: i64,
    pub item: OutboxItem,
}

/// Figures for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Rows not yet acknowledged by every registered consumer (all rows if none is registered).
    pub outbox_depth: u64,
    /// Rows ever dropped by limits before acknowledgement; survives restarts.
    pub outbox_dropped: u64,
    pub size_bytes: u64,
    pub jobs: u64,
    /// Highest sequence number assigned so far.
    pub head: u64,
}

/// A cloneable handle to the store thread.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Command>,
    shared: Arc<inline::Shared>,
    done: Arc<std::sync::Mutex<Option<thread::JoinHandle<()>>>>,
}

/// Depth of the command channel: enough to let many writers form large batches, small
/// enough that a stalled disk pushes back on producers instead of eating memory.
const COMMAND_QUEUE: usize = 8192;
/// Outbox rows buffered for live subscribers; a subscriber that falls further behind
/// re-reads from the store, so this bounds memory, not correctness.
const PUBLISH_QUEUE: usize = 4096;

/// The live outbox channel, created by the first [`Store::subscribe`]: its 4,096 slots are
/// 128 KiB written at creation, which an agent nobody streams from should not hold. Until
/// then the store thread publishes nothing, exactly as a channel with no receiver would drop.
pub(crate) type Publisher = Arc<OnceLock<broadcast::Sender<Arc<OutboxRow>>>>;

impl Store {
    /// Opens (creating if needed) and migrates the store. Jobs that were queued or running
    /// when the agent last stopped are marked `interrupted`, written to the outbox, and
    /// returned so the caller can log them.
    pub fn open(
        config: StoreConfig,
        metrics: CoreMetrics,
    ) -> Result<(Store, Vec<JobRecord>), StoreError> {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let (conn, interrupted, state) = worker::open(&config)?;
        let shared = Arc::new(inline::Shared {
            core: Mutex::new(inline::Core {
                conn: Some(conn),
                state,
                checkpoint_due: false,
            }),
            queued: AtomicUsize::new(0),
            config,
            publisher: Publisher::default(),
            metrics,
        });
        let for_thread = Arc::clone(&shared);
        let handle = thread::Builder::new()
            .name("outpost-store".into())
            .spawn(move || worker::run(for_thread, rx))
            .map_err(|source| StoreError::Io {
                path: PathBuf::from("<store thread>"),
                source,
            })?;
        Ok((
            Store {
                tx,
                shared,
                done: Arc::new(std::sync::Mutex::new(Some(handle))),
            },
            interrupted,
        ))
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        self.call_as(true, make).await
    }

    /// `inline`: the write may be committed on this thread if the store is idle (inline.rs).
    /// A job's writes may only when the caller knows no other job is in flight: writes of
    /// concurrent jobs must meet in the thread's group commit, which one runtime thread
    /// committing each of them inline, one after another, would never form.
    async fn call_as<T>(
        &self,
        inline: bool,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (reply, mut rx) = oneshot::channel();
        let cmd = make(reply);
        let cmd = if inline {
            // The reply is sent when it ran.
            match self.shared.try_inline(cmd, &self.tx) {
                Ok(()) => return rx.try_recv().unwrap_or(Err(StoreError::Closed)),
                Err(cmd) => cmd,
            }
        } else {
            cmd
        };
        let op = async {
            self.enqueue(cmd).await?;
            rx.await.map_err(|_| StoreError::Closed)?
        };
        let timeout = self.shared.config.op_timeout;
        tokio::time::timeout(timeout, op)
            .await
            .map_err(|_| StoreError::Timeout(timeout))?
    }

    /// Sends a command to the store thread, counted as queued until the thread has run it
    /// (no write is committed inline meanwhile, so none overtakes it).
    async fn enqueue(&self, cmd: Command) -> Result<(), StoreError> {
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        let uncount = Uncount(Some(&self.shared.queued));
        self.tx.send(cmd).await.map_err(|_| StoreError::Closed)?;
        uncount.disarm();
        Ok(())
    }

    /// Records an accepted job (state `queued`).
    pub async fn insert_job(&self, record: JobRecord) -> Result<(), StoreError> {
        self.insert_job_as(record, false).await
    }

    /// [`insert_job`](Self::insert_job) by a caller that knows whether this job is the only
    /// one in flight (`alone`): only then may it be committed on the caller's thread.
    pub async fn insert_job_as(&self, record: JobRecord, alone: bool) -> Result<(), StoreError> {
        self.call_as(alone, |reply| Command::InsertJob {
            record: Box::new(record),
            reply,
        })
        .await
    }

    /// Records jobs accepted together (state `queued`), all in one step of the current
    /// group commit: all of them, or none. Hands the records back once committed.
    pub async fn insert_jobs(&self, records: Vec<JobRecord>) -> Result<Vec<JobRecord>, StoreError> {
        if records.is_empty() {
            return Ok(records);
        }
        self.call(|reply| Command::InsertJobs { records, reply })
            .await
    }

    /// Records a terminal result and appends it to the outbox in one transaction.
    /// Returns the outbox sequence number.
    ///
    /// Takes the record shared: the dispatcher keeps the same `Arc` to retry with and to
    /// hand to waiters, instead of a deep copy of its params and output per job.
    pub async fn finish_job(&self, record: impl Into<Arc<JobRecord>>) -> Result<u64, StoreError> {
        self.finish_job_as(record, false).await
    }

    /// [`finish_job`](Self::finish_job) by a caller that knows whether this job is the only
    /// one in flight (`alone`): only then may it be committed on the caller's thread.
    pub async fn finish_job_as(
        &self,
        record: impl Into<Arc<JobRecord>>,
        alone: bool,
    ) -> Result<u64, StoreError> {
        let record = record.into();
        self.call_as(alone, |reply| Command::FinishJob { record, reply })
            .await
    }

    /// Appends an event to the outbox. Returns its sequence number.
    pub async fn append_event(&self, event: Event) -> Result<u64, StoreError> {
        self.call(|reply| Command::AppendEvent {
            event: Box::new(event),
            reply,
        })
        .await
    }

    /// Appends events to the outbox in one all-or-nothing step of the current group commit.
    /// Returns their sequence numbers, in order, after the commit.
    pub async fn append_events(&self, events: Vec<Event>) -> Result<Vec<u64>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.call(|reply| Command::AppendEvents { events, reply })
            .await
    }

    /// Appends events whose outbox bodies the emitter already wrote (see
    /// [`crate::EncodedEvents`]), all or nothing, in one step of the current group commit.
    /// Returns the sequence number of the last, after the commit (0 for an empty batch).
    pub async fn append_encoded(&self, events: crate::EncodedEvents) -> Result<u64, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        self.call(|reply| Command::AppendEncoded { events, reply })
            .await
    }

    pub async fn job(&self, id: JobId) -> Result<Option<JobRecord>, StoreError> {
        self.call(|reply| Command::GetJob { id, reply }).await
    }

    /// Newest first.
    pub async fn jobs(
        &self,
        state: Option<JobState>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, StoreError> {
        self.call(|reply| Command::ListJobs {
            state,
            limit,
            reply,
        })
        .await
    }

    /// Outbox rows with `seq > after`, oldest first.
    pub async fn outbox_after(&self, after: u64, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        self.call(|reply| Command::ReadOutbox {
            after,
            limit,
            reply,
        })
        .await
    }

    /// Registers a consumer (idempotent) and returns its cursor: the last acknowledged seq.
    /// A new consumer starts at the current head: it is owed what is written from now on.
    pub async fn register_consumer(&self, name: &str) -> Result<u64, StoreError> {
        self.call(|reply| Command::Register {
            name: name.to_owned(),
            reply,
        })
        .await
    }

    /// Moves a consumer's cursor forward to `seq`. Never moves it back.
    pub async fn ack(&self, name: &str, seq: u64) -> Result<(), StoreError> {
        self.call(|reply| Command::Ack {
            name: name.to_owned(),
            seq,
            reply,
        })
        .await
    }

    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.call(|reply| Command::Stats { reply }).await
    }

    /// Live outbox rows as they commit. A lagging receiver gets `Lagged` and must re-read
    /// from the store with [`Store::outbox_after`]; nothing is lost, only the shortcut.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<OutboxRow>> {
        self.shared
            .publisher
            .get_or_init(|| broadcast::channel(PUBLISH_QUEUE).0)
            .subscribe()
    }

    /// Applies acknowledgements and limits now rather than at the next periodic trim.
    pub async fn trim_now(&self) -> Result<(), StoreError> {
        self.call(|reply| Command::Trim { reply }).await
    }

    /// Stores a new schedule; an existing id is [`StoreError::ScheduleExists`].
    pub async fn insert_schedule(&self, row: ScheduleRow) -> Result<(), StoreError> {
        self.call(|reply| Command::InsertSchedule {
            row: Box::new(row),
            reply,
        })
        .await
    }

    /// Replaces a schedule's spec; its due times up to `at` count as handled. `None`: no
    /// such schedule.
    pub async fn update_schedule(
        &self,
        id: &str,
        spec: String,
        at: i64,
    ) -> Result<Option<ScheduleRow>, StoreError> {
        self.call(|reply| Command::UpdateSchedule {
            id: id.to_owned(),
            spec,
            at,
            reply,
        })
        .await
    }

    /// Removes a schedule; `false` if there was none.
    pub async fn delete_schedule(&self, id: &str) -> Result<bool, StoreError> {
        self.call(|reply| Command::DeleteSchedule {
            id: id.to_owned(),
            reply,
        })
        .await
    }

    pub async fn schedule(&self, id: &str) -> Result<Option<ScheduleRow>, StoreError> {
        self.call(|reply| Command::GetSchedule {
            id: id.to_owned(),
            reply,
        })
        .await
    }

    /// Every schedule, by id.
    pub async fn schedules(&self) -> Result<Vec<ScheduleRow>, StoreError> {
        self.call(|reply| Command::ListSchedules { reply }).await
    }

    /// Stores a declared app, replacing one of the same name (issue 15).
    pub async fn put_app(&self, row: AppRow) -> Result<(), StoreError> {
        self.call(|reply| Command::PutApp {
            row: Box::new(row),
            reply,
        })
        .await
    }

    /// Removes a declared app; `false` if there was none.
    pub async fn delete_app(&self, name: &str) -> Result<bool, StoreError> {
        self.call(|reply| Command::DeleteApp {
            name: name.to_owned(),
            reply,
        })
        .await
    }

    /// Every declared app, by name.
    pub async fn apps(&self) -> Result<Vec<AppRow>, StoreError> {
        self.call(|reply| Command::ListApps { reply }).await
    }

    /// Queues, for one step of a group commit, the record that each schedule's due times up
    /// to its time were handled (moved forward only). Returns once the command is queued:
    /// anything sent to the store after it commits in the same transaction or a later one
    /// (one thread takes commands in order), so a caller may submit the jobs at once and
    /// still never have a job stored without its mark. The returned future resolves when
    /// the mark commits.
    pub async fn queue_schedule_marks(
        &self,
        marks: Vec<(String, i64)>,
    ) -> Result<
        impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static,
        StoreError,
    > {
        let (reply, rx) = oneshot::channel();
        let timeout = self.shared.config.op_timeout;
        tokio::time::timeout(
            timeout,
            self.enqueue(Command::MarkSchedules { marks, reply }),
        )
        .await
        .map_err(|_| StoreError::Timeout(timeout))??;
        Ok(async move {
            tokio::time::timeout(timeout, rx)
                .await
                .map_err(|_| StoreError::Timeout(timeout))?
                .map_err(|_| StoreError::Closed)?
        })
    }

    /// Finishes every queued command, checkpoints the WAL and stops the thread.
    pub async fn close(&self) -> Result<(), StoreError> {
        let res = self.call(|reply| Command::Close { reply }).await;
        let handle = self.done.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
        res
    }
}

/// Takes back a command's place in [`inline::Shared::queued`] when it was never sent (the
/// channel closed, or the caller gave up waiting for room): the count must not stay up, or
/// no write would ever be committed inline again.
struct Uncount<'a>(Option<&'a AtomicUsize>);

impl Uncount<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Uncount<'_> {
    fn drop(&mut self) {
        if let Some(q) = self.0 {
            q.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
