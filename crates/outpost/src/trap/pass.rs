//! One read pass's accepted notifications, already in the form their sink takes (issue 11).
//!
//! For the daemon's store, the read loop writes each notification, as it decodes it,
//! straight into the pass's one text buffer of outbox bodies. The decoded notification is
//! then dropped on the thread that allocated it (glibc's allocator pays for frees on
//! another thread), and what crosses the queue is a buffer and a few small vectors per
//! pass, not a tree of allocations per trap. For `outpost traps listen` the notifications
//! themselves cross: its printing thread formats them, so the read loop, whose falling
//! behind is what loses datagrams, does as little per datagram as it can.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use outpost_core::{EncodedEvents, EventIds};
use outpost_snmp::mib::Mib;

use super::encode;
use super::log;
use super::normalize::Notification;

/// Bytes reserved per notification when a pass starts (a 3-varbind trap's outbox body is
/// about 620 bytes); the buffer grows past it if it must.
const BYTES_EACH: usize = 640;

/// What the read loop makes of an accepted notification.
pub enum Format {
    /// Outbox bodies for the store, with MIB names if asked. Ids come from one generator,
    /// stamped once per pass.
    Store {
        mib: Option<Arc<Mib>>,
        ids: EventIds,
    },
    /// `traps listen`: the notifications, for its printing thread to format.
    Print,
}

/// The pass's notifications in their sink's form.
#[derive(Debug)]
pub enum Body {
    /// Outbox bodies, for `Store::append_encoded`.
    Events(EncodedEvents),
    /// Notifications as decoded, for `traps listen`'s printing thread.
    Notifications(Vec<Box<Notification>>),
}

/// An inform's Response, sent once its notification is stored (or printed).
#[derive(Debug)]
pub struct Reply {
    pub sock: Arc<UdpSocket>,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// One read pass, as queued.
#[derive(Debug)]
pub struct Pass {
    /// Notifications in the pass.
    pub count: usize,
    pub body: Body,
    /// The snmptrapd-style log lines, when `trap.log` is on; logged by the writer, off the
    /// read path.
    pub logs: Vec<String>,
    pub replies: Vec<Reply>,
}

impl Pass {
    /// Moves `other`'s notifications to the end of this pass (bodies of the same kind).
    pub fn append(&mut self, other: Pass) {
        self.count += other.count;
        match (&mut self.body, other.body) {
            (Body::Events(a), Body::Events(b)) => a.append(b),
            (Body::Notifications(a), Body::Notifications(b)) => a.extend(b),
            // One receiver has one format; a mix cannot be queued.
            _ => {}
        }
        self.logs.extend(other.logs);
        self.replies.extend(other.replies);
    }
}

/// Builds passes in the read loop.
pub struct PassBuilder {
    format: Format,
    log: bool,
    pass: Option<Pass>,
    /// Notifications in the last pass: the next one reserves room for as many, so its
    /// buffer is rarely grown (and copied) while it fills.
    last: usize,
}

impl PassBuilder {
    pub fn new(format: Format, log: bool) -> Self {
        PassBuilder {
            format,
            log,
            pass: None,
            last: 16,
        }
    }

    /// Notifications in the pass being built.
    pub fn count(&self) -> usize {
        self.pass.as_ref().map_or(0, |p| p.count)
    }

    /// Adds an accepted notification (and, for an inform, its Response and socket).
    pub fn add(&mut self, n: Box<Notification>, reply: Option<(Arc<UdpSocket>, Vec<u8>)>) {
        let format = &mut self.format;
        let room = self.last.clamp(16, 4096);
        let pass = self.pass.get_or_insert_with(|| {
            let body = match format {
                Format::Store { ids, .. } => {
                    // One clock read per pass: every event of it gets the same `at`.
                    ids.stamp();
                    Body::Events(EncodedEvents::with_capacity(room, BYTES_EACH))
                }
                Format::Print => Body::Notifications(Vec::with_capacity(room)),
            };
            Pass {
                count: 0,
                body,
                logs: Vec::new(),
                replies: Vec::new(),
            }
        });
        if self.log {
            pass.logs.push(log::line(&n));
        }
        if let Some((sock, bytes)) = reply {
            pass.replies.push(Reply {
                sock,
                to: n.source,
                bytes,
            });
        }
        match (&mut pass.body, format) {
            (Body::Events(events), Format::Store { mib, ids }) => {
                events.push(ids, n.kind.event_kind(), |out| {
                    encode::payload(out, &n, mib.as_deref())
                });
            }
            (Body::Notifications(list), _) => list.push(n),
            // The body was made for this format just above.
            (Body::Events(_), Format::Print) => {}
        }
        pass.count += 1;
    }

    /// The pass built so far, if it holds anything; the next `add` starts a new one.
    pub fn take(&mut self) -> Option<Pass> {
        let pass = self.pass.take()?;
        self.last = pass.count;
        Some(pass)
    }
}
