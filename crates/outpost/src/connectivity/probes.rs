//! The four probes on the real network: the default route (from /proc/net/route and
//! /proc/net/ipv6_route, which are the reading process's network namespace's), and three
//! that are `outpost-checks`' own checks, so the monitor and the `check.*` job kinds cannot
//! drift apart: DNS (`dns::check`: one A query to exactly one resolver), TCP (`tcp::check`:
//! a connect) and HTTP(S) (`http::check`: a GET on a fresh connection, TLS verified with
//! the agent's one `TlsConfigs`, redirects not followed). Each ends within the configured
//! timeout (the check's own) and names the target it speaks for.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_checks::http::HttpSpec;
use outpost_checks::tls_config::TlsConfigs;
use outpost_checks::{dns, http, tcp, CheckResult, Status};
use outpost_connectivity::{Outcome, Probe, ProbeFuture, ProbeKind};

use crate::config::Targets;

/// The probes `targets` asks for, in the order they are listed and weighed.
pub fn kinds(t: &Targets) -> Vec<ProbeKind> {
    let mut out = Vec::new();
    if t.route {
        out.push(ProbeKind::Route);
    }
    if t.dns_name.is_some() {
        out.push(ProbeKind::Dns);
    }
    out.push(ProbeKind::Tcp);
    if t.http_url.is_some() {
        out.push(ProbeKind::Http);
    }
    out
}

/// The probes of [`kinds`], in its order. HTTPS probes use `tls`, the agent's one set of
/// TLS configurations (the `check.*` kinds' own).
pub fn build(t: &Targets, tls: Arc<TlsConfigs>) -> Vec<Box<dyn Probe>> {
    let timeout_ms = u64::try_from(t.timeout.as_millis()).unwrap_or(u64::MAX);
    kinds(t)
        .into_iter()
        .filter_map(|kind| -> Option<Box<dyn Probe>> {
            match kind {
                ProbeKind::Route => Some(Box::new(RouteProbe)),
                ProbeKind::Dns => Some(Box::new(DnsProbe {
                    server: t.dns_server,
                    name: t.dns_name.clone()?,
                    timeout_ms,
                })),
                ProbeKind::Tcp => Some(Box::new(TcpProbe {
                    target: t.tcp_target,
                    host: t.tcp_host.clone(),
                    timeout: t.timeout,
                    server: t.dns_server,
                    timeout_ms,
                })),
                ProbeKind::Http => Some(Box::new(HttpProbe {
                    spec: t.http_spec()?,
                    server: t.dns_server,
                    timeout: t.timeout,
                    tls: tls.clone(),
                })),
            }
        })
        .collect()
}

/// The resolver: configured, or the system's (outpost-checks' reader of /etc/resolv.conf,
/// read at each round).
fn resolver(configured: Option<SocketAddr>) -> Result<SocketAddr, String> {
    configured.map_or_else(dns::system_server, Ok)
}

/// A check's result as a probe's outcome. Up when the far side answered: OK, or WARNING (an
/// HTTP 4xx: the server was reached; the probes set no response-time thresholds, so no
/// other WARNING arises). Down when CRITICAL (no answer, refused, timed out, an error
/// answer) or UNKNOWN (the probe could not be made: a bad name, an unreadable CA file).
pub fn outcome(r: &CheckResult, target: Option<String>) -> Outcome {
    let took = Duration::try_from_secs_f64(r.response_time_ms / 1000.0).unwrap_or_default();
    match r.status {
        Status::Ok | Status::Warning => Outcome::up(r.output.clone(), took, target),
        Status::Critical | Status::Unknown => Outcome::down(r.output.clone(), Some(took), target),
    }
}

fn no_resolver(why: &str) -> Outcome {
    Outcome::down(
        format!(
            "no resolver: set connectivity.dns_server, or a nameserver in /etc/resolv.conf ({why})"
        ),
        None,
        Some("resolver".into()),
    )
}

struct RouteProbe;

impl Probe for RouteProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Route
    }

    fn check(&self) -> ProbeFuture<'_> {
        Box::pin(async {
            let began = Instant::now();
            let v4 = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
            let v6 = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
            let found = default_v4(&v4).or_else(|| default_v6(&v6));
            let took = began.elapsed();
            match found {
                Some(d) => Outcome::up(d, took, None),
                None => Outcome::down("no default route (IPv4 or IPv6)", Some(took), None),
            }
        })
    }
}

/// The first usable IPv4 default route in /proc/net/route's text: `via GW dev IFACE`.
pub fn default_v4(text: &str) -> Option<String> {
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let flags = u32::from_str_radix(f.get(3)?, 16).ok()?;
        if *f.get(1)? != "00000000" || *f.get(7)? != "00000000" || flags & 0x1 == 0 {
            return None;
        }
        let gw = u32::from_str_radix(f.get(2)?, 16).ok()?;
        // The kernel prints the address in host (little-endian) order.
        let gw = Ipv4Addr::from(gw.swap_bytes());
        Some(if gw.is_unspecified() {
            format!("dev {}", f[0])
        } else {
            format!("via {gw} dev {}", f[0])
        })
    })
}

/// The first usable IPv6 default route in /proc/net/ipv6_route's text (not the kernel's
/// reject route on `lo`).
pub fn default_v6(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 10 || f[0].bytes().any(|b| b != b'0') || f[1] != "00" {
            return None;
        }
        let flags = u32::from_str_radix(f[8], 16).ok()?;
        if flags & 0x1 == 0 || flags & 0x200 != 0 || f[9] == "lo" {
            return None;
        }
        let gw = u128::from_str_radix(f[4], 16).ok()?;
        let gw = std::net::Ipv6Addr::from(gw);
        Some(if gw.is_unspecified() {
            format!("dev {} (IPv6)", f[9])
        } else {
            format!("via {gw} dev {}", f[9])
        })
    })
}

struct DnsProbe {
    server: Option<SocketAddr>,
    name: String,
    timeout_ms: u64,
}

impl Probe for DnsProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Dns
    }

    fn check(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            let server = match resolver(self.server) {
                Ok(s) => s,
                Err(why) => return no_resolver(&why),
            };
            let spec = dns::DnsSpec {
                hostname: self.name.clone(),
                server: Some(server.to_string()),
                record_type: dns::Kind::A,
                expect: None,
                timeout_ms: Some(self.timeout_ms),
                warn_ms: None,
                crit_ms: None,
            };
            outcome(&dns::check(&spec).await, Some(server.ip().to_string()))
        })
    }
}

struct TcpProbe {
    target: Option<SocketAddr>,
    /// A host name and port, resolved at each round, when `target` is unset.
    host: Option<(String, u16)>,
    timeout: Duration,
    /// The resolver, whose port 53 is the default target.
    server: Option<SocketAddr>,
    timeout_ms: u64,
}

impl Probe for TcpProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Tcp
    }

    fn check(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            let addr = match (self.target, &self.host) {
                (Some(a), _) => a,
                (None, Some((host, port))) => {
                    match resolve(host, *port, self.server, self.timeout).await {
                        Ok(a) => a,
                        Err(down) => return down,
                    }
                }
                (None, None) => match resolver(self.server) {
                    Ok(s) => SocketAddr::new(s.ip(), 53),
                    Err(why) => {
                        return Outcome::down(
                            format!(
                                "no target: set connectivity.tcp_target (or a resolver: {why})"
                            ),
                            None,
                            Some("resolver".into()),
                        )
                    }
                },
            };
            let spec = tcp::TcpSpec {
                host: addr.ip().to_string(),
                port: addr.port(),
                send: None,
                expect: None,
                max_bytes: None,
                mismatch: None,
                refuse: None,
                timeout_ms: Some(self.timeout_ms),
                warn_ms: None,
                crit_ms: None,
            };
            outcome(&tcp::check(&spec).await, Some(addr.ip().to_string()))
        })
    }
}

/// `host:port`'s first address (a literal is taken as is); a lookup that fails is charged
/// to the resolver, so a dead resolver never looks like two dead targets.
async fn resolve(
    host: &str,
    port: u16,
    server: Option<SocketAddr>,
    timeout: Duration,
) -> Result<SocketAddr, Outcome> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let began = Instant::now();
    let looked = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await;
    let charged = resolver(server)
        .map(|s| s.ip().to_string())
        .unwrap_or_else(|_| "resolver".into());
    let down = |why: String| Outcome::down(why, Some(began.elapsed()), Some(charged.clone()));
    match looked {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .ok_or_else(|| down(format!("{host}: no address"))),
        Ok(Err(e)) => Err(down(format!("{host}: {e}"))),
        Err(_) => Err(down(format!(
            "{host}: not resolved within {} ms",
            timeout.as_millis()
        ))),
    }
}

struct HttpProbe {
    spec: HttpSpec,
    server: Option<SocketAddr>,
    timeout: Duration,
    tls: Arc<TlsConfigs>,
}

impl HttpProbe {
    /// The host's addresses: literal, or resolved by the system here, before the request,
    /// so that a name that does not resolve is charged to the resolver, not to the host (one
    /// dead resolver must not look like two dead targets).
    async fn addresses(&self) -> Result<Vec<IpAddr>, Outcome> {
        let Some((host, port)) = self.spec.host_port() else {
            return Err(Outcome::down("the URL has no host", None, None));
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let began = Instant::now();
        let looked =
            tokio::time::timeout(self.timeout, tokio::net::lookup_host((host.as_str(), port)))
                .await;
        let resolver = resolver(self.server)
            .map(|s| s.ip().to_string())
            .unwrap_or_else(|_| "resolver".into());
        let down = |why: String| Outcome::down(why, Some(began.elapsed()), Some(resolver.clone()));
        match looked {
            Ok(Ok(addrs)) => {
                let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                if ips.is_empty() {
                    Err(down(format!("{host}: no address")))
                } else {
                    Ok(ips)
                }
            }
            Ok(Err(e)) => Err(down(format!("{host}: {e}"))),
            Err(_) => Err(down(format!(
                "{host}: not resolved within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }
}

impl Probe for HttpProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Http
    }

    fn check(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            let ips = match self.addresses().await {
                Ok(ips) => ips,
                Err(down) => return down,
            };
            let target = ips.first().map(ToString::to_string);
            let mut spec = self.spec.clone();
            spec.resolved = ips;
            outcome(&http::check(&spec, &self.tls).await, target)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn issue14_check_status_maps_to_probe_outcome() {
        // OK and WARNING (an HTTP 404: the server answered) are up; CRITICAL (refused,
        // timed out, HTTP 503) and UNKNOWN (the probe could not be made) are down. The
        // detail is the check's output, the latency its response time, the target the
        // probe's.
        for (status, up) in [
            (Status::Ok, true),
            (Status::Warning, true),
            (Status::Critical, false),
            (Status::Unknown, false),
        ] {
            let r = CheckResult::new(status, format!("X {status}"), Duration::from_millis(12));
            let o = outcome(&r, Some("192.0.2.1".into()));
            assert_eq!(o.up, up, "{status}");
            assert_eq!(o.detail, format!("X {status}"));
            assert_eq!(o.target.as_deref(), Some("192.0.2.1"));
            let ms = o.latency.unwrap().as_secs_f64() * 1000.0;
            assert!((ms - 12.0).abs() < 1e-6, "{ms}");
        }
        let mut nan = CheckResult::new(Status::Ok, "x", Duration::ZERO);
        nan.response_time_ms = f64::NAN;
        assert_eq!(
            outcome(&nan, None).latency,
            Some(Duration::ZERO),
            "never a panic"
        );
    }

    #[test]
    fn default_routes_are_read_from_procs_tables() {
        let v4 =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  vA1\t0000010A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                  vA1\t00000000\t0200010A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_v4(v4).as_deref(), Some("via 10.1.0.2 dev vA1"));
        let no =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  vA1\t0000010A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(default_v4(no), None);
        let v6_reject = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        assert_eq!(default_v6(v6_reject), None);
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000001000000000000000000000002 00000400 00000001 00000000 00000003     vA1\n";
        assert_eq!(default_v6(v6).as_deref(), Some("via fd00:1::2 dev vA1"));
    }
}
