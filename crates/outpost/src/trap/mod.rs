//! The SNMP trap and inform receiver (issue 4).
//!
//! ```text
//!  UDP v4/v6 sockets ──▶ read loop ──try_send──▶ bounded queue ──▶ writer ──▶ Store::append_event
//!  (big SO_RCVBUF)       decode + filter          (trap.queue_capacity)  (many in flight,   │
//!                        drop = counted                                   group commit)     ▼
//!                        v3 probe → Report                            inform Response sent after commit
//! ```
//!
//! - `config.rs`: the `trap.*` section and its validated form.
//! - `socket.rs`: binding (receive buffer) and the read loop, which never awaits the store.
//! - `filter.rs`: networks, communities; `usm.rs`: v3 users, Reports, sealed Responses.
//! - `normalize.rs`: the notification in normal form and its event payload.
//! - `writer.rs`: queue to store (or to stdout for `outpost traps listen`), then acknowledge.
//! - `log.rs`: the snmptrapd-style line. `metrics.rs`: accepted, drops by reason, kernel drops.

pub mod config;
pub mod filter;
pub mod log;
pub mod metrics;
pub mod normalize;
pub mod socket;
pub mod usm;
pub mod writer;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{TrapSection, TrapSettings};
pub use metrics::{DropReason, TrapMetrics};
pub use writer::Sink;

/// A running receiver: stop it with [`Receiver::stop`], which flushes the queue.
pub struct Receiver {
    /// Says "stop" to the read loops.
    stop: CancellationToken,
    /// The read loops; when all have ended, the queue's senders are gone.
    loops: TaskTracker,
    /// The writer, which ends once the queue is empty and closed.
    writer: JoinHandle<()>,
    /// The bound addresses (with the real port when 0 was asked for).
    pub addrs: Vec<SocketAddr>,
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
    /// Binds every address and starts the read loops and the writer.
    pub fn start(
        mut settings: TrapSettings,
        sink: Sink,
        metrics: TrapMetrics,
    ) -> std::io::Result<Receiver> {
        let (tx, rx) = mpsc::channel(settings.queue_capacity);
        let mut socks = Vec::new();
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
            socks.push((Arc::new(sock), local));
        }
        let filter = Arc::new(filter::Filter::new(&mut settings));
        let stop = CancellationToken::new();
        let loops = TaskTracker::new();
        let mut addrs = Vec::new();
        for (sock, local) in socks {
            addrs.push(local);
            loops.spawn(socket::read_loop(
                sock,
                Arc::clone(&filter),
                tx.clone(),
                metrics.clone(),
                stop.clone(),
            ));
        }
        loops.close();
        drop(tx);
        let writer = tokio::spawn(writer::run(rx, sink, metrics, settings.log));
        Ok(Receiver {
            stop,
            loops,
            writer,
            addrs,
        })
    }

    /// Stops reading (after draining what the sockets already hold), then waits until every
    /// queued notification is stored and every inform acknowledged.
    pub async fn stop(self) {
        self.stop.cancel();
        self.loops.wait().await;
        let _ = self.writer.await;
    }
}
