//! One request on the wire, whatever its version: send, wait out the per-attempt timeout,
//! retransmit the same bytes (the same request-id, so a late answer to the first try is
//! still credited) until a reply is accepted or the attempts run out. This file is the
//! UDP side; `tcp.rs` is the same contract over a connection.

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::demux::Incoming;
use super::logs::ReqInfo;
use super::Session;
use crate::error::SnmpError;
use crate::message::Version;
use crate::stats::bump;
use crate::target::Transport;

impl Session {
    /// The error for a request that no attempt got an answer to. `connected`: for TCP,
    /// whether a connection was ever open, so a target that never accepted one is not
    /// blamed on the community.
    pub(super) fn timeout_error(&self, attempts: u32, connected: bool) -> SnmpError {
        bump(&self.inner.engine.inner.shared.stats.timeouts);
        let tcp = self.inner.cfg.addr.transport == Transport::Tcp;
        SnmpError::Timeout {
            target: self.inner.label.clone(),
            attempts,
            hint: match self.version() {
                _ if tcp && !connected => " (no TCP connection could be opened within the timeout)",
                Version::V3 => "",
                _ => " (for v1/v2c a wrong community looks like this: agents silently drop it)",
            },
        }
    }

    /// Sends `bytes` with retries until `accept` takes a reply. `accept` sees every
    /// candidate the demultiplexer matched by id and source; one it refuses is counted as
    /// `rejected` and the request keeps waiting.
    pub(super) async fn exchange<T>(
        &self,
        bytes: &[u8],
        mut rx: mpsc::Receiver<Incoming>,
        req: ReqInfo,
        mut accept: impl FnMut(Incoming) -> Option<T>,
    ) -> Result<T, SnmpError> {
        let s = &self.inner;
        let st = &s.engine.inner.shared.stats;
        let attempts = s.cfg.retries.saturating_add(1);
        if s.cfg.addr.transport == Transport::Tcp {
            return self.exchange_tcp(bytes, attempts, req, accept).await;
        }
        let sock = s.socket.as_ref().ok_or(SnmpError::Closed)?;
        // The kernel would refuse it with EMSGSIZE on every attempt; say why instead.
        let limit = crate::size::udp_limit(s.addr.is_ipv6());
        if bytes.len() > limit {
            return Err(self.log_error(
                req,
                SnmpError::RequestTooLarge {
                    target: s.label.clone(),
                    size: bytes.len(),
                    limit,
                },
            ));
        }
        let started = Instant::now();
        for attempt in 0..attempts {
            bump(&st.requests_sent);
            if attempt > 0 {
                // The first attempt was paced in `request`.
                self.pace().await;
                bump(&st.retransmits);
            }
            self.log_send(req, attempt, attempts, bytes.len());
            if let Err(e) = sock.send_to(bytes, s.addr).await {
                return Err(self.log_error(req, SnmpError::from_io(&s.label, e)));
            }
            let deadline = Instant::now() + s.cfg.timeout;
            loop {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Err(_) => break,
                    Ok(None) => return Err(SnmpError::Closed),
                    Ok(Some(inc)) => match accept(inc) {
                        Some(t) => {
                            bump(&st.responses_accepted);
                            self.log_reply(req, attempt, started);
                            return Ok(t);
                        }
                        None => bump(&st.rejected),
                    },
                }
            }
        }
        Err(self.log_error(req, self.timeout_error(attempts, true)))
    }
}
