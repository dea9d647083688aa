//! What a caller asks for ([`PingSpec`]) and what it gets back ([`PingResult`]): per probe
//! outcomes and the summary fping prints (sent, received, loss, RTT min/avg/max) plus the
//! standard deviation.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use crate::error::IcmpError;

/// One target's probes.
#[derive(Debug, Clone, PartialEq)]
pub struct PingSpec {
    pub target: IpAddr,
    /// Probes to send (1..=100,000).
    pub count: u32,
    /// Between the starts of two probes to this target.
    pub interval: Duration,
    /// How long each probe waits for its reply.
    pub timeout: Duration,
    /// Payload bytes after the 8-byte ICMP header (fping's `-b`; at least 16 are sent).
    pub size: usize,
    /// TTL (v4) or hop limit (v6); `None` keeps the system's default.
    pub ttl: Option<u8>,
}

impl PingSpec {
    /// fping's defaults: one probe, 1 s period, 500 ms timeout, 56 bytes.
    pub fn new(target: IpAddr) -> PingSpec {
        PingSpec {
            target,
            count: 1,
            interval: Duration::from_millis(1000),
            timeout: Duration::from_millis(500),
            size: 56,
            ttl: None,
        }
    }

    pub fn validate(&self) -> Result<(), IcmpError> {
        let bad = |field, reason: &str| {
            Err(IcmpError::InvalidParam {
                field,
                reason: reason.to_string(),
            })
        };
        if !(1..=100_000).contains(&self.count) {
            return bad("count", "must be 1..=100000");
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(600) {
            return bad("timeout", "must be over 0 and at most 600 s");
        }
        if self.interval > Duration::from_secs(3600) {
            return bad("interval", "must be at most 3600 s");
        }
        if self.size > 65_000 {
            return bad("size", "must be at most 65000 bytes");
        }
        if self.ttl == Some(0) {
            return bad("ttl", "must be 1..=255");
        }
        if self.target.is_unspecified() || self.target.is_multicast() {
            return bad("target", "must be a unicast address");
        }
        Ok(())
    }
}

/// What became of one probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Reply {
        #[serde(rename = "rtt_ms", serialize_with = "ms")]
        rtt: Duration,
    },
    Timeout,
    /// An ICMP destination unreachable naming this probe, from `from` (a router or the host).
    Unreachable {
        from: IpAddr,
        code: u8,
    },
    /// TTL / hop limit exceeded at `from`.
    TimeExceeded {
        from: IpAddr,
        code: u8,
    },
    /// The kernel refused to send it (no route, say).
    SendError {
        error: String,
    },
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// One target's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PingResult {
    pub target: IpAddr,
    /// Probes attempted (a probe the kernel refused to send counts, as lost).
    pub sent: u32,
    /// Probes answered by a matching echo reply.
    pub received: u32,
    pub loss_pct: f64,
    pub rtt_min_ms: Option<f64>,
    pub rtt_avg_ms: Option<f64>,
    pub rtt_max_ms: Option<f64>,
    /// Population standard deviation of the RTTs.
    pub rtt_stddev_ms: Option<f64>,
    /// Each probe's outcome, in send order.
    pub probes: Vec<Outcome>,
}

impl PingResult {
    pub fn from_outcomes(target: IpAddr, probes: Vec<Outcome>) -> PingResult {
        let rtts: Vec<f64> = probes
            .iter()
            .filter_map(|o| match o {
                Outcome::Reply { rtt } => Some(rtt.as_secs_f64() * 1000.0),
                _ => None,
            })
            .collect();
        let sent = probes.len() as u32;
        let received = rtts.len() as u32;
        let loss_pct = if sent == 0 {
            0.0
        } else {
            f64::from(sent - received) * 100.0 / f64::from(sent)
        };
        let (min, avg, max, sd) = if rtts.is_empty() {
            (None, None, None, None)
        } else {
            let n = rtts.len() as f64;
            let avg = rtts.iter().sum::<f64>() / n;
            let var = rtts.iter().map(|r| (r - avg) * (r - avg)).sum::<f64>() / n;
            (
                rtts.iter().copied().reduce(f64::min),
                Some(avg),
                rtts.iter().copied().reduce(f64::max),
                Some(var.sqrt()),
            )
        };
        PingResult {
            target,
            sent,
            received,
            loss_pct,
            rtt_min_ms: min,
            rtt_avg_ms: avg,
            rtt_max_ms: max,
            rtt_stddev_ms: sd,
            probes,
        }
    }

    /// Each reply's RTT, in send order.
    pub fn rtts(&self) -> Vec<Duration> {
        self.probes
            .iter()
            .filter_map(|o| match o {
                Outcome::Reply { rtt } => Some(*rtt),
                _ => None,
            })
            .collect()
    }

    pub fn alive(&self) -> bool {
        self.received > 0
    }
}
