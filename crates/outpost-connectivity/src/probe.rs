//! What one probe reports, and the trait the agent's probes implement.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

/// The four probes, in the order they are listed and weighed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// A default route exists (IPv4 or IPv6). Local: it names no remote target.
    Route,
    /// The resolver answers for `connectivity.dns_name`.
    Dns,
    /// A TCP connect to `connectivity.tcp_target` succeeds.
    Tcp,
    /// An HTTP(S) GET of `connectivity.http_url` answers.
    Http,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 4] = [
        ProbeKind::Route,
        ProbeKind::Dns,
        ProbeKind::Tcp,
        ProbeKind::Http,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Route => "route",
            ProbeKind::Dns => "dns",
            ProbeKind::Tcp => "tcp",
            ProbeKind::Http => "http",
        }
    }

    /// The probe's share of the score. The route is necessary but says little on its own
    /// (a route to a dead gateway is still a route); each remote target weighs three times
    /// as much. The score is the weight of the probes that are up over the weight of the
    /// probes configured, 0 to 100.
    pub fn weight(self) -> u32 {
        match self {
            ProbeKind::Route => 10,
            ProbeKind::Dns | ProbeKind::Tcp | ProbeKind::Http => 30,
        }
    }

    /// Whether the probe talks to a remote target (everything but the route).
    pub fn is_remote(self) -> bool {
        self != ProbeKind::Route
    }
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub up: bool,
    /// What was seen: `"via 10.1.0.2 dev eth0"`, `"connection refused"`, `"HTTP 204"`.
    pub detail: String,
    /// How long the probe took (a failure's too, up to its timeout).
    #[serde(rename = "latency_ms", serialize_with = "as_millis")]
    pub latency: Option<Duration>,
    /// The remote target this result speaks for: the resolver's address for DNS, the
    /// host for TCP and HTTP. Failures with the same target are ONE failing target: an HTTP
    /// probe that fails because its host name does not resolve names the resolver, not its
    /// host, so a dead resolver never looks like two dead targets.
    pub target: Option<String>,
}

impl Outcome {
    pub fn up(detail: impl Into<String>, latency: Duration, target: Option<String>) -> Self {
        Outcome {
            up: true,
            detail: detail.into(),
            latency: Some(latency),
            target,
        }
    }

    pub fn down(
        detail: impl Into<String>,
        latency: Option<Duration>,
        target: Option<String>,
    ) -> Self {
        Outcome {
            up: false,
            detail: detail.into(),
            latency,
            target,
        }
    }
}

fn as_millis<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_secs_f64() * 1000.0)),
        None => s.serialize_none(),
    }
}

pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// A probe. `check` must end on its own within its timeout: the monitor waits for every
/// probe of a round before it assesses the round.
pub trait Probe: Send + Sync {
    fn kind(&self) -> ProbeKind;
    fn check(&self) -> ProbeFuture<'_>;
}
