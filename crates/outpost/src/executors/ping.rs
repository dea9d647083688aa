//! `ping`: ICMP echo to a list of targets, one result per job with a row per target, on
//! `outpost-icmp`'s engine.
//!
//! One [`Shared`] per registry holds the one [`Engine`] (one socket per family for every
//! target of every job), created by the first `ping` job: an agent that never pings opens
//! no ICMP socket. The engine's packets-per-second cap (1,000/s) is shared by all jobs, so
//! concurrent sweeps cannot flood the uplink together.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use outpost_core::{executor::ParamError, ExecError, Executor, JobContext, Registry};
use outpost_icmp::{Engine, EngineConfig, IcmpError, PingResult, PingSpec};
use serde::{Deserialize, Serialize};

/// Targets per job: a /20 sweep, more is a mistake or belongs in several jobs.
const MAX_TARGETS: usize = 4096;

#[derive(Default)]
pub struct Shared {
    engine: tokio::sync::OnceCell<Engine>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ping::Shared")
            .field("engine_started", &self.engine.initialized())
            .finish()
    }
}

/// The engine's counters on `/metrics`, read at scrape time: every ICMP packet the engine
/// dropped is visible, by reason. All zero until the first `ping` job.
impl prometheus_client::collector::Collector for Shared {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        use outpost_host::prom::{counter, counters};
        let c = self.engine.get().map(Engine::counters).unwrap_or_default();
        for (name, help, v) in [
            ("outpost_icmp_sent", "ICMP echo requests sent", c.sent),
            (
                "outpost_icmp_send_errors",
                "ICMP echo requests the kernel refused to send",
                c.send_errors,
            ),
            (
                "outpost_icmp_replies",
                "ICMP echo replies credited to a probe",
                c.replies,
            ),
            (
                "outpost_icmp_errors_matched",
                "ICMP unreachable / time exceeded messages credited to a probe",
                c.errors_matched,
            ),
        ] {
            counter(&mut encoder, name, help, v)?;
        }
        counters(
            &mut encoder,
            "outpost_icmp_dropped",
            "ICMP packets read but not credited, by reason",
            [
                ("malformed", c.malformed),
                ("foreign", c.foreign),
                ("unmatched", c.unmatched),
                ("bad_payload", c.bad_payload),
                ("recv_error", c.recv_errors),
            ]
            .map(|(reason, v)| ([("reason", reason)], v)),
        )
    }
}

pub struct Ping(Arc<Shared>);

fn default_count() -> u32 {
    3
}
fn default_interval() -> u64 {
    1000
}
fn default_timeout() -> u64 {
    1000
}
fn default_size() -> usize {
    56
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Addresses or host names.
    targets: Vec<String>,
    #[serde(default = "default_count")]
    count: u32,
    #[serde(default = "default_interval")]
    interval_ms: u64,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
    #[serde(default = "default_size")]
    size: usize,
    #[serde(default)]
    ttl: Option<u8>,
}

#[derive(Serialize)]
pub struct Row {
    /// The target as given in the params (the result's `target` is its address).
    host: String,
    #[serde(flatten)]
    result: Option<PingResult>,
    /// Why there is no result: the name did not resolve.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
pub struct Output {
    rows: Vec<Row>,
}

fn field(field: &str, message: impl Into<String>) -> ParamError {
    ParamError {
        field: field.into(),
        message: message.into(),
    }
}

impl Params {
    fn spec(&self, target: IpAddr) -> PingSpec {
        PingSpec {
            target,
            count: self.count,
            interval: Duration::from_millis(self.interval_ms),
            timeout: Duration::from_millis(self.timeout_ms),
            size: self.size,
            ttl: self.ttl,
        }
    }
}

impl Executor for Ping {
    type Params = Params;
    type Output = Output;

    fn kind(&self) -> &'static str {
        "ping"
    }

    fn check(&self, p: &Params) -> Result<(), ParamError> {
        if p.targets.is_empty() || p.targets.len() > MAX_TARGETS {
            return Err(field("targets", format!("1 to {MAX_TARGETS} targets")));
        }
        for (i, t) in p.targets.iter().enumerate() {
            if t.is_empty() || t.len() > 253 || t.chars().any(|c| c.is_whitespace()) {
                return Err(field(
                    &format!("targets[{i}]"),
                    "an IP address or a host name",
                ));
            }
        }
        // The engine's own checks, on a stand-in target, so each names its field.
        if let Err(IcmpError::InvalidParam { field: f, reason }) =
            p.spec(IpAddr::from([192, 0, 2, 1])).validate()
        {
            let name = match f {
                "interval" => "interval_ms",
                "timeout" => "timeout_ms",
                other => other,
            };
            return Err(field(name, reason));
        }
        Ok(())
    }

    async fn run(&self, p: Params, _cx: JobContext) -> Result<Output, ExecError> {
        let engine = self
            .0
            .engine
            .get_or_try_init(|| async { Engine::new(EngineConfig::default()) })
            .await
            .map_err(icmp_error)?;
        let mut addrs = Vec::with_capacity(p.targets.len());
        for t in &p.targets {
            addrs.push(resolve(t).await);
        }
        let pings = addrs.iter().map(|a| async {
            match a {
                Ok(addr) => engine.ping(&p.spec(*addr)).await.map(Some),
                Err(_) => Ok(None),
            }
        });
        let results = futures_util::future::join_all(pings).await;
        let mut rows = Vec::with_capacity(results.len());
        for ((target, addr), result) in p.targets.iter().zip(addrs).zip(results) {
            // No socket (privileges) fails the whole job: every row would say the same.
            let result = result.map_err(icmp_error)?;
            rows.push(Row {
                host: target.clone(),
                result,
                error: addr.err(),
            });
        }
        Ok(Output { rows })
    }
}

async fn resolve(t: &str) -> Result<IpAddr, String> {
    if let Ok(a) = t.parse() {
        return Ok(a);
    }
    match tokio::net::lookup_host((t, 0)).await {
        Ok(mut it) => it
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| format!("{t}: no address")),
        Err(e) => Err(format!("{t}: {e}")),
    }
}

fn icmp_error(e: IcmpError) -> ExecError {
    let code = match e {
        IcmpError::NotPermitted { .. } => "icmp_not_permitted",
        IcmpError::InvalidParam { .. } => "invalid_params",
        _ => "icmp",
    };
    ExecError::new(code, e.to_string())
}

/// Registers `ping`; the returned handle is the `/metrics` collector of its engine.
pub fn register(reg: &mut Registry) -> Arc<Shared> {
    let shared = Arc::new(Shared::default());
    reg.register(Ping(shared.clone()));
    shared
}
