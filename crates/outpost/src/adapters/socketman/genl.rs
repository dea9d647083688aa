//! A generic-netlink client (netlink(7), genetlink): one request, then its replies until
//! the kernel ends them, over a `NETLINK_GENERIC` socket from rustix (no `unsafe`, no C).
//! What the nl80211 reader ([`super::nl80211_read`]) asks the kernel with.
//!
//! The replies are checked before the decoder sees them ([`Exchange`], a state machine fed
//! one datagram at a time, so recorded bytes test it without a kernel): every message's
//! length, its sequence number (the request's, or the exchange fails: a reply to another
//! request is never taken for this one's), `NLMSG_ERROR` (0 acknowledges; anything else
//! is the kernel's errno), `NLMSG_DONE` (the end of a dump; since Linux 4.12 it may carry
//! an error too), `NLMSG_OVERRUN`, and a bound on messages and bytes. Every receive waits
//! until the exchange's deadline. A datagram longer than the buffer is an error (`MSG_TRUNC`), never a
//! silently cut dump.

use std::time::Duration;

use rustix::fd::OwnedFd;
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use std::time::Instant;

use super::nl80211::{self as nl, DecodeError, NLMSG_DONE, NLMSG_ERROR};
use super::nl80211_write::Attrs;

pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_OVERRUN: u16 = 4;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;

/// The generic-netlink controller's fixed family id (`GENL_ID_CTRL`), always present.
pub const GENL_ID_CTRL: u16 = 16;
pub const CTRL_CMD_GETFAMILY: u8 = 3;
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;
/// The kernel's answer to a family it does not have.
const ENOENT: i32 = 2;

/// The largest datagram the kernel sends a dump in (it fills up to 32 KiB, or a page when
/// larger): room for it and more.
const DATAGRAM: usize = 64 * 1024;

/// Why an exchange with the kernel failed.
#[derive(Debug, thiserror::Error)]
pub enum GenlError {
    #[error("netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("no reply from the kernel within {0:?}")]
    Timeout(Duration),
    #[error("a reply of {0} bytes is longer than the {DATAGRAM}-byte buffer")]
    Truncated(usize),
    #[error("a reply with sequence number {got}, not the request's {want}")]
    Sequence { want: u32, got: u32 },
    #[error("the kernel answered errno {0}")]
    Kernel(i32),
    #[error("the kernel's receive buffer overran: replies were lost")]
    Overrun,
    #[error("more than {0} messages in one reply: stopped")]
    TooMany(usize),
    #[error("more than {0} bytes in one reply: stopped")]
    TooLarge(usize),
    #[error("malformed reply: {0}")]
    Malformed(#[from] DecodeError),
}

/// How much one exchange may bring back.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub messages: usize,
    pub bytes: usize,
}

/// Where an exchange stands after a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More replies are owed.
    More,
    /// The dump ended (`NLMSG_DONE`) or the request was acknowledged.
    Done,
}

/// One request's replies as they arrive: checked, counted and kept for the decoder.
#[derive(Debug)]
pub struct Exchange {
    seq: u32,
    limits: Limits,
    messages: usize,
    /// The data messages, as the kernel framed them (what [`super::nl80211`] decodes).
    replies: Vec<u8>,
    done: bool,
}

impl Exchange {
    pub fn new(seq: u32, limits: Limits) -> Exchange {
        Exchange {
            seq,
            limits,
            messages: 0,
            replies: Vec::new(),
            done: false,
        }
    }

    /// Takes one datagram. After `Done`, or an error, the exchange takes nothing more.
    pub fn feed(&mut self, datagram: &[u8]) -> Result<Step, GenlError> {
        if self.done {
            return Ok(Step::Done);
        }
        let mut at = 0;
        while at < datagram.len() {
            let bad = |what| DecodeError::Message { at, what };
            let head = datagram
                .get(at..at + 16)
                .ok_or(bad("shorter than its header"))?;
            let word =
                |i: usize| u32::from_ne_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
            let len = word(0) as usize;
            let ty = u16::from_ne_bytes([head[4], head[5]]);
            let seq = word(8);
            if len < 16 {
                return Err(bad("length below the header's").into());
            }
            let msg = datagram
                .get(at..at + len)
                .ok_or(bad("length past the end"))?;
            if seq != self.seq {
                return Err(GenlError::Sequence {
                    want: self.seq,
                    got: seq,
                });
            }
            self.messages += 1;
            if self.messages > self.limits.messages {
                return Err(GenlError::TooMany(self.limits.messages));
            }
            let code = || {
                msg.get(16..20)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            };
            match ty {
                NLMSG_NOOP => {}
                NLMSG_OVERRUN => return Err(GenlError::Overrun),
                NLMSG_ERROR => {
                    let code = code().ok_or(bad("error message without a code"))?;
                    // Code 0 acknowledges the request; the exchange is over either way.
                    self.done = true;
                    return match code {
                        0 => Ok(Step::Done),
                        c => Err(GenlError::Kernel(c.saturating_neg())),
                    };
                }
                NLMSG_DONE => {
                    self.done = true;
                    return match code().unwrap_or(0) {
                        0 => Ok(Step::Done),
                        c => Err(GenlError::Kernel(c.saturating_neg())),
                    };
                }
                _ => {
                    if self.replies.len() + len > self.limits.bytes {
                        return Err(GenlError::TooLarge(self.limits.bytes));
                    }
                    self.replies.extend_from_slice(msg);
                    // The decoder walks messages at 4-byte boundaries, as the kernel pads.
                    self.replies
                        .resize(self.replies.len().next_multiple_of(4), 0);
                }
            }
            at += len.next_multiple_of(4);
        }
        Ok(Step::More)
    }

    /// The data messages received, framed as the kernel sent them.
    pub fn into_replies(self) -> Vec<u8> {
        self.replies
    }
}

/// A request: `nlmsghdr`, `genlmsghdr` (`cmd`, `version`), then the attributes.
pub fn request(family: u16, flags: u16, seq: u32, cmd: u8, version: u8, attrs: &Attrs) -> Vec<u8> {
    let a = attrs.as_bytes();
    let mut b = Vec::with_capacity(20 + a.len());
    b.extend_from_slice(&((20 + a.len()) as u32).to_ne_bytes());
    b.extend_from_slice(&family.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    // Port id 0: the kernel fills in the socket's own.
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(&[cmd, version, 0, 0]);
    b.extend_from_slice(a);
    b
}

/// The family id in a `CTRL_CMD_NEWFAMILY` reply.
pub fn family_id(replies: &[u8]) -> Result<Option<u16>, DecodeError> {
    for m in nl::messages(replies)? {
        let a = nl::attrs(m.attrs)?;
        if let Some((_, p)) = a.iter().find(|(t, _)| *t == CTRL_ATTR_FAMILY_ID) {
            if let Ok(b) = <[u8; 2]>::try_from(*p) {
                return Ok(Some(u16::from_ne_bytes(b)));
            }
        }
    }
    Ok(None)
}

/// A blocking `NETLINK_GENERIC` socket whose every receive times out (`SO_RCVTIMEO`, set
/// to what is left of the exchange's deadline). Blocking because tokio's `AsyncFd` can only
/// be built with `unsafe` (or its deprecated constructors); callers run it on a blocking
/// thread (`spawn_blocking`), a few short exchanges per monitor pass.
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
    /// How long each exchange may take, all its receives together.
    timeout: Duration,
}

fn io(e: rustix::io::Errno) -> std::io::Error {
    std::io::Error::from(e)
}

impl Socket {
    pub fn open(timeout: Duration) -> Result<Socket, GenlError> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            Some(netlink::GENERIC),
        )
        .map_err(|e| GenlError::Socket(io(e)))?;
        // Port id 0: the kernel assigns one.
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, 0))
            .map_err(|e| GenlError::Socket(io(e)))?;
        Ok(Socket {
            fd,
            // Any start will do; the kernel echoes it back.
            seq: 1,
            buf: vec![0; DATAGRAM],
            timeout,
        })
    }

    /// Sends one request and gathers its replies, within the socket's timeout.
    pub fn exchange(
        &mut self,
        family: u16,
        flags: u16,
        cmd: u8,
        attrs: &Attrs,
        limits: Limits,
    ) -> Result<Vec<u8>, GenlError> {
        self.seq = self.seq.wrapping_add(1);
        let deadline = Instant::now() + self.timeout;
        let req = request(family, NLM_F_REQUEST | flags, self.seq, cmd, 1, attrs);
        let kernel = SocketAddrNetlink::new(0, 0);
        // A send to the kernel does not wait on a peer: it is handled in the call.
        rustix::net::sendto(&self.fd, &req, SendFlags::empty(), &kernel)
            .map_err(|e| GenlError::Socket(io(e)))?;
        let mut ex = Exchange::new(self.seq, limits);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(GenlError::Timeout(self.timeout));
            }
            // At least 1 ms: a zero timeout would mean "wait forever".
            let wait = left.max(Duration::from_millis(1));
            rustix::net::sockopt::set_socket_timeout(
                &self.fd,
                rustix::net::sockopt::Timeout::Recv,
                Some(wait),
            )
            .map_err(|e| GenlError::Socket(io(e)))?;
            let len = match rustix::net::recv(&self.fd, &mut self.buf[..], RecvFlags::TRUNC) {
                Ok((_, len)) => len,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => return Err(GenlError::Timeout(self.timeout)),
                Err(e) => return Err(GenlError::Socket(io(e))),
            };
            if len > self.buf.len() {
                return Err(GenlError::Truncated(len));
            }
            if ex.feed(&self.buf[..len])? == Step::Done {
                return Ok(ex.into_replies());
            }
        }
    }

    /// The id of generic-netlink family `name`, or `None` when this kernel has no such
    /// family (nl80211 without a Wi-Fi driver loaded).
    pub fn family(&mut self, name: &str) -> Result<Option<u16>, GenlError> {
        let mut a = Attrs::default();
        a.cstr(CTRL_ATTR_FAMILY_NAME, name);
        let limits = Limits {
            messages: 4,
            bytes: DATAGRAM,
        };
        match self.exchange(GENL_ID_CTRL, NLM_F_ACK, CTRL_CMD_GETFAMILY, &a, limits) {
            Ok(replies) => Ok(family_id(&replies)?),
            Err(GenlError::Kernel(ENOENT)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
