//! The SNMP trap and inform receiver (issues 4 and 11).
//!
//! ```text
//!  UDP v4/v6 sockets ──▶ read loop ──one item per pass──▶ bounded queue ──▶ writer ──▶ Store::append_encoded
//!  (big SO_RCVBUF)       own thread, poll(2)               (trap.queue_capacity  (batches in flight, │
//!                        decode + filter                    notifications)        group commit)     ▼
//!                        v3 probe → Report                                  inform Response sent after commit
//!                        outbox text written per pass
//! ```
//!
//! `outpost traps listen` has the same read loop; its pass carries the notifications to a
//! printing thread, which formats and writes a batch at a time.
//!
//! - `config.rs`: the `trap.*` section and its validated form; `boots.rs`: our snmpEngineBoots,
//!   advanced at each start in the data directory.
//! - `socket.rs`: binding (receive buffer) and the read loop, a thread of its own that never
//!   waits for the store.
//! - `filter.rs`: networks, communities; `usm.rs`: v3 users, Reports, sealed Responses.
//! - `normalize.rs`: the notification in normal form and its event payload (the serde
//!   reference); `encode.rs`: the same payload written straight into a text buffer.
//! - `pass.rs`: a read pass's notifications, encoded by the read loop for their sink.
//! - `queue.rs`: the bounded queue, one item per read pass, bounded in notifications.
//! - `writer.rs`: queue to store (or to stdout for `outpost traps listen`, on a thread of
//!   its own), then acknowledge.
//! - `log.rs`: the snmptrapd-style line. `metrics.rs`: accepted, drops by reason, kernel drops.

pub mod boots;
pub mod config;
pub mod encode;
pub mod filter;
pub mod log;
pub mod metrics;
pub mod normalize;
pub mod pass;
pub mod queue;
pub mod socket;
pub mod usm;
pub mod writer;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;

pub use config::{TrapSection, TrapSettings};
pub use metrics::{DropReason, TrapMetrics};
pub use writer::Sink;

/// A running receiver: stop it with [`Receiver::stop`], which flushes the queue.
pub struct Receiver {
    /// Says "stop" to the read loop.
    stop: Arc<socket::StopSignal>,
    /// The read loop's thread; when it has ended, the queue's sender is gone.
    reader: Option<std::thread::JoinHandle<()>>,
    /// The writer, which ends once the queue is empty and closed.
    writer: Option<Writer>,
    /// The bound addresses (with the real port when 0 was asked for).
    pub addrs: Vec<SocketAddr>,
}

/// The daemon's writer is a task (it awaits the store); `traps listen`'s a thread (it
/// blocks on standard output).
enum Writer {
    Task(JoinHandle<()>),
    Thread(std::thread::JoinHandle<()>),
}

/// Our snmpEngineID, from the agent id: enterprise 8072's prefix with the text format (4).
pub fn engine_id(agent_id: &str) -> Vec<u8> {
    let mut id = vec![0x80, 0x00, 0x1f, 0x88, 0x04];
    id.extend(agent_id.bytes().take(27));
    if id.len() == 5 {
        id.extend_from_slice(b"outpost");
    }
    id
}

impl Receiver {
    /// Binds every address, starts the read loop on its own thread and the writer as a task
    /// of the current runtime.
    pub fn start(
        mut settings: TrapSettings,
        sink: Sink,
        metrics: TrapMetrics,
    ) -> std::io::Result<Receiver> {
        let mut socks = Vec::new();
        let mut addrs = Vec::new();
        for addr in &settings.listen {
            let (sock, granted) = socket::bind(*addr, settings.recv_buffer_bytes).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("binding the trap receiver to {addr}: {e}"),
                )
            })?;
            if let Some(ino) = socket::inode(&sock) {
                metrics.sockets.add(ino);
            }
            let local = sock.local_addr()?;
            tracing::info!(
                recv_buffer_bytes = granted,
                "trap: receiving on udp:{local}"
            );
            socks.push(Arc::new(sock));
            addrs.push(local);
        }
        let filter = Arc::new(filter::Filter::new(&mut settings));
        let stop = Arc::new(socket::StopSignal::new()?);
        let (tx, rx) = queue::bounded(settings.queue_capacity);
        let format = match &sink {
            Sink::Store(_) => pass::Format::Store {
                mib: settings.mib.clone(),
                ids: outpost_core::EventIds::new(),
            },
            Sink::Print { .. } => pass::Format::Print,
        };
        let builder = pass::PassBuilder::new(format, settings.log);
        // The writer first: should the read loop's thread fail to start, dropping `tx`
        // ends the writer.
        let writer = match sink {
            Sink::Store(store) => {
                Writer::Task(tokio::spawn(writer::run_store(rx, store, metrics.clone())))
            }
            Sink::Print { json } => {
                let metrics = metrics.clone();
                let style = if json {
                    writer::Style::Json(
                        settings
                            .mib
                            .clone()
                            .unwrap_or_else(|| Arc::new(outpost_snmp::mib::Mib::builtin())),
                    )
                } else {
                    writer::Style::Text
                };
                Writer::Thread(
                    std::thread::Builder::new()
                        .name("outpost-trap-out".into())
                        .spawn(move || writer::run_print(rx, metrics, style))?,
                )
            }
        };
        let reader = {
            let (metrics, stop) = (metrics.clone(), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("outpost-trap".into())
                .spawn(move || socket::read_loop(socks, filter, builder, tx, metrics, stop))?
        };
        Ok(Receiver {
            stop,
            reader: Some(reader),
            writer: Some(writer),
            addrs,
        })
    }

    /// Stops reading (after draining what the sockets already hold), then waits until every
    /// queued notification is stored and every inform acknowledged.
    pub async fn stop(mut self) {
        self.stop.raise();
        if let Some(t) = self.reader.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        match self.writer.take() {
            Some(Writer::Task(w)) => {
                let _ = w.await;
            }
            Some(Writer::Thread(t)) => {
                let _ = tokio::task::spawn_blocking(move || t.join()).await;
            }
            None => {}
        }
    }
}

impl Drop for Receiver {
    /// Dropped without [`Receiver::stop`] (an error elsewhere in startup), the read loop
    /// still ends rather than outliving the receiver.
    fn drop(&mut self) {
        self.stop.raise();
    }
}
