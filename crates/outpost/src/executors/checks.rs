//! `check.tcp`, `check.http`, `check.dns`, `check.tls`: the service checks of
//! `outpost-checks` as job kinds. Params are the checks' own specs (unknown fields refused,
//! a bad value named by its field); the output is the [`CheckResult`].
//!
//! A check that runs is a job that succeeds, whatever it found: a CRITICAL check is a
//! completed job whose output says CRITICAL (status 2), as Nagios records a CRITICAL
//! service, not a failed check run. A job fails only when it could not run at all.
//!
//! One [`TlsConfigs`] serves every HTTP and TLS check of the agent: the system roots are
//! read once, and one rustls config is kept per (verify, CA file).

use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_checks::{dns, http, spec::SpecError, tcp, tls, tls_config::TlsConfigs, CheckResult};
use outpost_core::{executor::ParamError, ExecError, Executor, JobContext, Registry};

/// Time kept between a check's own timeout and the job's deadline, so the check reports
/// its timeout (a CRITICAL result) before the dispatcher gives up on the job.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

fn param_error(e: SpecError) -> ParamError {
    ParamError {
        field: e.field,
        message: e.message,
    }
}

/// The check's timeout, cut to fit the job's deadline.
fn fit(timeout_ms: Option<u64>, default: Duration, deadline: Instant) -> Option<u64> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .saturating_sub(DEADLINE_MARGIN)
        .max(Duration::from_millis(1));
    let want = timeout_ms.map_or(default, Duration::from_millis);
    Some(want.min(left).as_millis().max(1) as u64)
}

const DEFAULT: Duration = Duration::from_millis(outpost_checks::spec::DEFAULT_TIMEOUT_MS);

pub struct Tcp;

impl Executor for Tcp {
    type Params = tcp::TcpSpec;
    type Output = CheckResult;

    fn kind(&self) -> &'static str {
        "check.tcp"
    }

    fn check(&self, p: &tcp::TcpSpec) -> Result<(), ParamError> {
        p.validate().map_err(param_error)
    }

    async fn run(&self, mut p: tcp::TcpSpec, cx: JobContext) -> Result<CheckResult, ExecError> {
        p.timeout_ms = fit(p.timeout_ms, DEFAULT, cx.deadline);
        Ok(tcp::check(&p).await)
    }
}

pub struct Http(Arc<TlsConfigs>);

impl Executor for Http {
    type Params = http::HttpSpec;
    type Output = CheckResult;

    fn kind(&self) -> &'static str {
        "check.http"
    }

    /// A thousand checks in flight are a thousand sockets; the dispatcher queues the rest.
    fn concurrency(&self) -> usize {
        256
    }

    fn check(&self, p: &http::HttpSpec) -> Result<(), ParamError> {
        p.validate().map_err(param_error)
    }

    /// Credentials in request headers are not stored with the job.
    fn redact(&self, params: &serde_json::Value) -> serde_json::Value {
        let mut p = params.clone();
        if let Some(h) = p.get_mut("headers").and_then(|h| h.as_object_mut()) {
            for (name, value) in h.iter_mut() {
                if is_secret_header(name) {
                    *value = serde_json::Value::String("<redacted>".into());
                }
            }
        }
        p
    }

    async fn run(&self, mut p: http::HttpSpec, cx: JobContext) -> Result<CheckResult, ExecError> {
        p.timeout_ms = fit(p.timeout_ms, DEFAULT, cx.deadline);
        Ok(http::check(&p, &self.0).await)
    }
}

fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie"
    ) || n.contains("token")
        || n.contains("api-key")
        || n.contains("apikey")
        || n.contains("secret")
}

pub struct Dns;

impl Executor for Dns {
    type Params = dns::DnsSpec;
    type Output = CheckResult;

    fn kind(&self) -> &'static str {
        "check.dns"
    }

    fn check(&self, p: &dns::DnsSpec) -> Result<(), ParamError> {
        p.validate().map_err(param_error)
    }

    async fn run(&self, mut p: dns::DnsSpec, cx: JobContext) -> Result<CheckResult, ExecError> {
        p.timeout_ms = fit(p.timeout_ms, DEFAULT, cx.deadline);
        Ok(dns::check(&p).await)
    }
}

pub struct Tls(Arc<TlsConfigs>);

impl Executor for Tls {
    type Params = tls::TlsSpec;
    type Output = CheckResult;

    fn kind(&self) -> &'static str {
        "check.tls"
    }

    fn check(&self, p: &tls::TlsSpec) -> Result<(), ParamError> {
        p.validate().map_err(param_error)
    }

    async fn run(&self, mut p: tls::TlsSpec, cx: JobContext) -> Result<CheckResult, ExecError> {
        p.timeout_ms = fit(p.timeout_ms, DEFAULT, cx.deadline);
        Ok(tls::check(&p, &self.0).await)
    }
}

/// Registers the four kinds, sharing one set of TLS configurations.
pub fn register(reg: &mut Registry) {
    register_with(reg, Arc::new(TlsConfigs::new()));
}

/// [`register`] with the agent's TLS configurations, which the connectivity monitor's HTTPS
/// probe shares (`components::probes::SharedTls`).
pub fn register_with(reg: &mut Registry, tls_configs: Arc<TlsConfigs>) {
    reg.register(Tcp)
        .register(Http(tls_configs.clone()))
        .register(Dns)
        .register(Tls(tls_configs));
}
