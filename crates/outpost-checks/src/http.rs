//! `check.http`: one HTTP(S) request on a fresh connection, judged as check_http judges it.
//!
//! States (check_http 2.3.3): with no expected statuses, 1xx-3xx are OK, 4xx WARNING, 5xx
//! CRITICAL; with `expect_status`, any other status is CRITICAL. A regex that does not
//! match (or matches, with `invert_regex`) is CRITICAL. A connect, TLS or protocol failure
//! and the timeout are CRITICAL. Redirects are followed only when asked (check_http's
//! default is not to follow, and a 3xx is then OK), at most `max_redirects` times; more is
//! WARNING, as check_http's "maximum redirection depth exceeded".
//!
//! Why hyper's client connection and not reqwest: a check measures connecting, so it must
//! not reuse pooled connections; reqwest would need a client per check or a pool turned off,
//! and hides where the time went. Driving `hyper::client::conn::http1` over our own
//! `TcpStream` (+ `tokio-rustls`) costs one connection per check, driven in the check's own task, shares
//! one rustls config per (verify, CA) ([`TlsConfigs`]), and gives connect, TLS and
//! first-byte times separately.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use url::{Position, Url};

use crate::perfdata::Perfdata;
use crate::result::{CheckResult, Status};
use crate::spec::{ms, seconds_text, SpecError, Timing};
use crate::status_set::StatusSet;
use crate::tcp::{connect_any, resolve};
use crate::tls_config::{server_name, TlsConfigs};

/// Body bytes read by default; the rest is not read (the connection is dropped).
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
pub const MAX_MAX_BODY: usize = 64 << 20;
pub const DEFAULT_MAX_REDIRECTS: u32 = 5;
const MAX_REDIRECTS_LIMIT: u32 = 20;
const USER_AGENT: &str = concat!("outpost-check/", env!("CARGO_PKG_VERSION"));

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Default GET.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    /// Statuses that are OK; anything else is CRITICAL. Unset: check_http's rule.
    #[serde(default)]
    pub expect_status: Option<StatusSet>,
    /// A regular expression the body must match (CRITICAL otherwise).
    #[serde(default)]
    pub regex: Option<String>,
    /// CRITICAL when the regex does match.
    #[serde(default)]
    pub invert_regex: bool,
    #[serde(default)]
    pub follow_redirects: bool,
    #[serde(default)]
    pub max_redirects: Option<u32>,
    /// Verify the server's certificate and name (default true).
    #[serde(default = "default_true")]
    pub verify_tls: bool,
    /// PEM file of the CAs to trust instead of the system store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Body bytes read at most (default 1 MiB); the regex sees only these.
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub warn_ms: Option<f64>,
    #[serde(default)]
    pub crit_ms: Option<f64>,
    /// Addresses of the URL's host to connect to instead of resolving it (curl's
    /// `--resolve`), for a caller that resolved the name itself to know which resolver a
    /// failed lookup is charged to (the connectivity monitor). Not a job parameter; empty:
    /// resolve. A redirect to another host is resolved as usual.
    #[serde(skip)]
    pub resolved: Vec<std::net::IpAddr>,
}

impl HttpSpec {
    pub fn timing(&self) -> Timing {
        Timing {
            timeout_ms: self.timeout_ms,
            warn_ms: self.warn_ms,
            crit_ms: self.crit_ms,
        }
    }

    fn method(&self) -> Result<hyper::Method, SpecError> {
        let m = self.method.as_deref().unwrap_or("GET");
        hyper::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| SpecError::new("method", "an HTTP method (GET, HEAD, POST, ...)"))
    }

    /// The URL's host (an IPv6 literal without its brackets) and port, explicit or the
    /// scheme's; `None` for a URL that does not parse. For a caller that resolves the host
    /// itself ([`HttpSpec::resolved`]).
    pub fn host_port(&self) -> Option<(String, u16)> {
        let url = parse_url(&self.url).ok()?;
        let host = match url.host()? {
            url::Host::Domain(d) => d.to_owned(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        Some((host, url.port_or_known_default()?))
    }

    pub fn validate(&self) -> Result<(), SpecError> {
        parse_url(&self.url).map_err(|m| SpecError::new("url", m))?;
        self.method()?;
        for (name, value) in &self.headers {
            let field = format!("headers.{name}");
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| SpecError::new(&field, "not a valid header name"))?;
            HeaderValue::from_str(value)
                .map_err(|_| SpecError::new(&field, "not a valid header value"))?;
            if name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
            {
                return Err(SpecError::new(&field, "set by the check from `body`"));
            }
        }
        if let Some(r) = &self.regex {
            regex_lite::Regex::new(r).map_err(|e| SpecError::new("regex", e.to_string()))?;
        }
        if self.invert_regex && self.regex.is_none() {
            return Err(SpecError::new("invert_regex", "needs `regex`"));
        }
        if let Some(n) = self.max_redirects {
            if n > MAX_REDIRECTS_LIMIT {
                return Err(SpecError::new(
                    "max_redirects",
                    format!("0 to {MAX_REDIRECTS_LIMIT}"),
                ));
            }
        }
        if let Some(m) = self.max_body_bytes {
            if m > MAX_MAX_BODY {
                return Err(SpecError::new(
                    "max_body_bytes",
                    format!("0 to {MAX_MAX_BODY}"),
                ));
            }
        }
        if let Some(p) = &self.ca_file {
            if !p.is_absolute() {
                return Err(SpecError::new("ca_file", "an absolute path"));
            }
        }
        self.timing().validate()
    }
}

fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("scheme must be http or https".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    Ok(url)
}

/// What one request got back.
struct Exchange {
    status: hyper::StatusCode,
    version: hyper::Version,
    location: Option<String>,
    body: Vec<u8>,
    truncated: bool,
    connect: Duration,
    tls: Option<Duration>,
    first_byte: Duration,
}

/// A failure before a response: always CRITICAL, with what failed.
struct Failure {
    stage: &'static str,
    message: String,
}

fn fail(stage: &'static str, e: impl std::fmt::Display) -> Failure {
    Failure {
        stage,
        message: e.to_string(),
    }
}

pub async fn check(spec: &HttpSpec, tls: &TlsConfigs) -> CheckResult {
    let timing = spec.timing();
    let start = Instant::now();
    timing
        .bounded(start, run(spec, tls, start), |secs| {
            (
                format!("HTTP CRITICAL - Socket timeout after {secs} seconds"),
                json!({"url": spec.url, "timeout": true}),
            )
        })
        .await
}

async fn run(spec: &HttpSpec, tls: &TlsConfigs, start: Instant) -> CheckResult {
    let unknown = |msg: String| CheckResult::new(Status::Unknown, msg, start.elapsed());
    let (method, mut url) = match (spec.method(), parse_url(&spec.url)) {
        (Ok(m), Ok(u)) => (m, u),
        (Err(e), _) => return unknown(format!("HTTP UNKNOWN - {e}")),
        (_, Err(e)) => return unknown(format!("HTTP UNKNOWN - url: {e}")),
    };
    let regex = match spec.regex.as_deref().map(regex_lite::Regex::new) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => return unknown(format!("HTTP UNKNOWN - regex: {e}")),
    };
    let follow = spec.follow_redirects;
    let max_redirects = spec.max_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS);
    let mut redirects = 0u32;
    let mut method = method;
    let mut body = spec.body.clone();
    let ex = loop {
        let ex = match exchange(spec, tls, &method, &url, body.as_deref()).await {
            Ok(ex) => ex,
            Err(f) if f.stage == "tls_config" => {
                let mut r = unknown(format!("HTTP UNKNOWN - {}", f.message));
                r.details = json!({"url": spec.url});
                return r;
            }
            Err(f) => {
                let mut r = CheckResult::new(
                    Status::Critical,
                    format!("HTTP CRITICAL - {} {url}: {}", f.stage, f.message),
                    start.elapsed(),
                );
                r.details = json!({"url": spec.url, "final_url": url.as_str(), "stage": f.stage,
                    "error": f.message, "redirects": redirects});
                return r;
            }
        };
        let next = (follow && ex.status.is_redirection())
            .then_some(ex.location.as_deref())
            .flatten()
            .map(|loc| url.join(loc));
        match next {
            Some(Ok(next)) if matches!(next.scheme(), "http" | "https") => {
                redirects += 1;
                if redirects > max_redirects {
                    let mut r = CheckResult::new(
                        Status::Warning,
                        format!(
                            "HTTP WARNING - maximum redirection depth {max_redirects} exceeded - {next}"
                        ),
                        start.elapsed(),
                    );
                    r.details = json!({"url": spec.url, "final_url": url.as_str(), "redirects": redirects - 1});
                    return r;
                }
                // 303, and 301/302 after a POST as browsers do, become a GET without body.
                if ex.status == hyper::StatusCode::SEE_OTHER
                    || (method == hyper::Method::POST && matches!(ex.status.as_u16(), 301 | 302))
                {
                    method = hyper::Method::GET;
                    body = None;
                }
                url = next;
            }
            Some(_) => {
                let mut r = CheckResult::new(
                    Status::Critical,
                    format!("HTTP CRITICAL - bad redirect location from {url}"),
                    start.elapsed(),
                );
                r.details = json!({"url": spec.url, "final_url": url.as_str(),
                    "location": ex.location});
                return r;
            }
            None => break ex,
        }
    };
    let elapsed = start.elapsed();
    judge(spec, regex.as_ref(), &url, redirects, &ex, elapsed)
}

fn judge(
    spec: &HttpSpec,
    regex: Option<&regex_lite::Regex>,
    url: &Url,
    redirects: u32,
    ex: &Exchange,
    elapsed: Duration,
) -> CheckResult {
    let code = ex.status.as_u16();
    let status_line = format!(
        "{:?} {} {}",
        ex.version,
        code,
        ex.status.canonical_reason().unwrap_or("")
    );
    let mut status = match &spec.expect_status {
        Some(set) if !set.contains(code) => Status::Critical,
        Some(_) => Status::Ok,
        None if code >= 500 => Status::Critical,
        None if code >= 400 => Status::Warning,
        None => Status::Ok,
    };
    let mut notes = Vec::new();
    if status != Status::Ok {
        notes.push(match &spec.expect_status {
            Some(set) => format!("status {code} not in {set}"),
            None => format!("status {code}"),
        });
    }
    let matched = regex.map(|r| r.is_match(&String::from_utf8_lossy(&ex.body)));
    if let Some(m) = matched {
        if m == spec.invert_regex {
            status = status.worst(Status::Critical);
            notes.push(if spec.invert_regex {
                "pattern found".into()
            } else {
                "pattern not found".into()
            });
        }
    }
    let by_time = spec.timing().judge(elapsed);
    if by_time != Status::Ok {
        notes.push("response time over threshold".into());
    }
    status = status.worst(by_time);
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" - {}", notes.join(", "))
    };
    let mut r = CheckResult::new(
        status,
        format!(
            "HTTP {status}: {} - {} bytes in {}{notes}",
            status_line.trim_end(),
            ex.body.len(),
            seconds_text(elapsed)
        ),
        elapsed,
    );
    let mut size = Perfdata::new("size", ex.body.len() as f64, "B");
    size.min = Some(0.0);
    r.perfdata.push(size);
    r.details = json!({
        "url": spec.url,
        "final_url": url.as_str(),
        "http_status": code,
        "http_version": format!("{:?}", ex.version),
        "bytes": ex.body.len(),
        "truncated": ex.truncated,
        "redirects": redirects,
        "connect_ms": ms(ex.connect),
        "tls_ms": ex.tls.map(ms),
        "first_byte_ms": ms(ex.first_byte),
        "tls_verified": url.scheme() == "https" && spec.verify_tls,
        "regex_matched": matched,
    });
    r
}

/// One request on a fresh connection.
async fn exchange(
    spec: &HttpSpec,
    tls: &TlsConfigs,
    method: &hyper::Method,
    url: &Url,
    body: Option<&str>,
) -> Result<Exchange, Failure> {
    let t0 = Instant::now();
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    let pinned = (!spec.resolved.is_empty()
        && Url::parse(&spec.url).is_ok_and(|u| u.host_str() == Some(host)))
    .then(|| {
        spec.resolved
            .iter()
            .map(|&ip| std::net::SocketAddr::new(ip, port))
            .collect::<Vec<_>>()
    });
    let addrs = match pinned {
        Some(a) => a,
        None => resolve(host, port).await.map_err(|e| fail("resolve", e))?,
    };
    let (tcp, _addr) = connect_any(&addrs)
        .await
        .map_err(|(addr, e)| fail("connect", format!("{addr}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let connect = t0.elapsed();
    if url.scheme() == "https" {
        let config = tls
            .http(spec.verify_tls, spec.ca_file.as_deref())
            .map_err(|e| fail("tls_config", e))?;
        let name = server_name(host).map_err(|e| fail("tls", e))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| fail("tls", e))?;
        let tls_time = t0.elapsed() - connect;
        request(spec, stream, method, url, body, t0, connect, Some(tls_time)).await
    } else {
        request(spec, tcp, method, url, body, t0, connect, None).await
    }
}

#[allow(clippy::too_many_arguments)]
async fn request<S>(
    spec: &HttpSpec,
    stream: S,
    method: &hyper::Method,
    url: &Url,
    body: Option<&str>,
    t0: Instant,
    connect: Duration,
    tls: Option<Duration>,
) -> Result<Exchange, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| fail("http", e))?;
    let mut req = hyper::Request::builder()
        .method(method.clone())
        .uri(&url[Position::BeforePath..Position::AfterQuery])
        .header(
            hyper::header::HOST,
            &url[Position::BeforeHost..Position::BeforePath],
        )
        .header(hyper::header::USER_AGENT, USER_AGENT)
        .header(hyper::header::CONNECTION, "close");
    for (k, v) in &spec.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))
        .map_err(|e| fail("request", e))?;
    let cap = spec.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY);
    let work = async move {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| fail("http", e))?;
        let first_byte = t0.elapsed();
        let status = resp.status();
        let version = resp.version();
        let location = resp
            .headers()
            .get(hyper::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body_in = resp.into_body();
        let mut got = Vec::new();
        let mut truncated = false;
        while let Some(frame) = body_in.frame().await {
            let frame = frame.map_err(|e| fail("body", e))?;
            if let Ok(data) = frame.into_data() {
                let room = cap - got.len();
                if data.len() > room {
                    got.extend_from_slice(&data[..room]);
                    truncated = true;
                    break;
                }
                got.extend_from_slice(&data);
            }
        }
        Ok(Exchange {
            status,
            version,
            location,
            body: got,
            truncated,
            connect,
            tls,
            first_byte,
        })
    };
    // The connection is driven in this task, beside the request, not in a task of its own:
    // no spawn and no cross-thread wake-ups per check (measured: they were a large share of
    // a check's CPU), and the connection is dropped with the check, whatever ends it.
    tokio::pin!(work, conn);
    let mut conn_done = false;
    loop {
        tokio::select! {
            biased;
            r = &mut work => return r,
            // The connection ends first when the server closes after its answer; the body
            // already read is still delivered to `work`.
            _ = &mut conn, if !conn_done => conn_done = true,
        }
    }
}
