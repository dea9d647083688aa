//! SNMP over TCP: one connection per session, opened on first use and reused.
//!
//! Failures follow net-snmp's tools (checked against `snmpget` 5.9.3): a connection that
//! is refused, unreachable, reset or closed by the agent is an error at once, not a
//! timeout after every retry, because no retry can change the agent's answer. Only
//! silence is retried, each attempt after its full timeout. Two exceptions, both about
//! connections we opened earlier: a cached connection the agent closed while idle is
//! reopened once without spending an attempt, and a reply that breaks the framing drops
//! the connection and counts as a silent attempt (the next one waits out its timeout
//! and reconnects).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::demux::Incoming;
use super::logs::ReqInfo;
use super::Session;
use crate::ber::{LONG_LENGTH, MAX_LENGTH_OCTETS};
use crate::error::SnmpError;
use crate::message::Message;
use crate::stats::bump;

/// How one attempt on the stream ended, when it did not end with a reply.
enum Failure {
    /// The connect itself failed.
    Connect(std::io::Error),
    /// Writing or reading an established connection failed.
    Stream(std::io::Error),
    /// The agent sent something that is not an SNMP message: framing is lost.
    Malformed,
}

/// A connection the agent closed while it sat idle in the cache: reopen it.
fn closed_while_idle(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe
    )
}

impl Session {
    pub(super) async fn exchange_tcp<T>(
        &self,
        bytes: &[u8],
        attempts: u32,
        req: ReqInfo,
        mut accept: impl FnMut(Incoming) -> Option<T>,
    ) -> Result<T, SnmpError> {
        let s = &self.inner;
        let st = &s.engine.inner.shared.stats;
        let max = s.engine.inner.config.max_tcp_message;
        let mut conn = s.tcp.lock().await;
        let started = Instant::now();
        let mut connected = conn.is_some();
        let mut reopened = false;
        let mut attempt = 0;
        while attempt < attempts {
            let deadline = Instant::now() + s.cfg.timeout;
            let reused = conn.is_some();
            let r: Result<Result<T, Failure>, _> = tokio::time::timeout_at(deadline, async {
                if conn.is_none() {
                    let c = TcpStream::connect(s.addr).await.map_err(Failure::Connect)?;
                    tracing::debug!(target = %s.label, "snmp tcp connected");
                    *conn = Some(c);
                }
                let c = conn.as_mut().ok_or(Failure::Malformed)?;
                bump(&st.requests_sent);
                if attempt > 0 {
                    bump(&st.retransmits);
                }
                self.log_send(req, attempt, attempts, bytes.len());
                c.write_all(bytes).await.map_err(Failure::Stream)?;
                loop {
                    let frame = match read_frame(c, max).await {
                        Ok(f) => f,
                        // A bad or oversized length is a hostile message, counted like
                        // a malformed datagram.
                        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                            bump(&st.datagrams_received);
                            bump(&st.malformed);
                            return Err(Failure::Malformed);
                        }
                        Err(e) => return Err(Failure::Stream(e)),
                    };
                    bump(&st.datagrams_received);
                    let Ok(msg) = Message::decode(&frame) else {
                        bump(&st.malformed);
                        return Err(Failure::Malformed);
                    };
                    let raw = matches!(msg, Message::V3(_)).then(|| frame.clone());
                    match accept(Incoming { msg, raw }) {
                        Some(t) => {
                            bump(&st.responses_accepted);
                            return Ok(t);
                        }
                        None => bump(&st.rejected),
                    }
                }
            })
            .await;
            connected |= conn.is_some();
            match r {
                Ok(Ok(t)) => {
                    self.log_reply(req, attempt, started);
                    return Ok(t);
                }
                // Silence: the connection stays (a late reply is skipped by request-id)
                // and the next attempt sends again.
                Err(_elapsed) => attempt += 1,
                Ok(Err(Failure::Connect(e))) => {
                    return Err(self.log_error(req, SnmpError::from_io(&s.label, e)));
                }
                Ok(Err(Failure::Stream(e))) => {
                    *conn = None;
                    if reused && !reopened && closed_while_idle(&e) {
                        tracing::debug!(target = %s.label, error = %e,
                            "snmp tcp connection closed while idle; reconnecting");
                        reopened = true;
                        continue;
                    }
                    return Err(self.log_error(req, SnmpError::from_io(&s.label, e)));
                }
                Ok(Err(Failure::Malformed)) => {
                    *conn = None;
                    tracing::debug!(target = %s.label, request_id = req.id,
                        "snmp tcp reply malformed; dropping the connection");
                    tokio::time::sleep_until(deadline).await;
                    attempt += 1;
                }
            }
        }
        Err(self.log_error(req, self.timeout_error(attempts, connected)))
    }
}

/// Reads one BER-framed message from a stream, refusing oversized ones.
async fn read_frame(c: &mut TcpStream, max: usize) -> Result<Vec<u8>, std::io::Error> {
    let mut head = [0u8; 2];
    c.read_exact(&mut head).await?;
    let mut frame = head.to_vec();
    let len = if head[1] < LONG_LENGTH {
        usize::from(head[1])
    } else {
        let n = usize::from(head[1] & !LONG_LENGTH);
        if n == 0 || n > MAX_LENGTH_OCTETS {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "bad BER length on TCP stream",
            ));
        }
        let mut lb = vec![0u8; n];
        c.read_exact(&mut lb).await?;
        frame.extend_from_slice(&lb);
        lb.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b))
    };
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "oversized message on TCP stream",
        ));
    }
    let start = frame.len();
    frame.resize(start + len, 0);
    c.read_exact(frame.get_mut(start..).unwrap_or_default())
        .await?;
    Ok(frame)
}
