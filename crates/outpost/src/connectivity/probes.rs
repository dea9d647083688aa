//! The four probes on the real network: the default route (from /proc/net/route and
//! /proc/net/ipv6_route, which are the reading process's network namespace's), DNS (one A
//! query to the resolver, `dns.rs`), a TCP connect, and an HTTP(S) GET (reqwest, TLS
//! verified, no redirects followed, a fresh connection each time). Each ends within the
//! configured timeout and names the target it speaks for.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use outpost_connectivity::{Outcome, Probe, ProbeFuture, ProbeKind};

use super::dns;
use crate::config::Targets;

/// The probes `targets` asks for, in the order they are listed.
pub fn build(t: &Targets) -> anyhow::Result<Vec<Box<dyn Probe>>> {
    let mut out: Vec<Box<dyn Probe>> = Vec::new();
    if t.route {
        out.push(Box::new(RouteProbe));
    }
    if let Some(name) = &t.dns_name {
        out.push(Box::new(DnsProbe {
            server: t.dns_server,
            name: name.clone(),
            timeout: t.timeout,
        }));
    }
    out.push(Box::new(TcpProbe {
        target: t.tcp_target,
        server: t.dns_server,
        timeout: t.timeout,
    }));
    if let Some(url) = &t.http_url {
        out.push(Box::new(HttpProbe::new(url, t.dns_server, t.timeout)?));
    }
    Ok(out)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
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
    timeout: Duration,
}

impl Probe for DnsProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Dns
    }

    fn check(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            let Some(server) = dns::resolver(self.server) else {
                return Outcome::down(
                    "no resolver: set connectivity.dns_server, or a nameserver in /etc/resolv.conf",
                    None,
                    Some("resolver".into()),
                );
            };
            let target = Some(server.ip().to_string());
            let began = Instant::now();
            let res = dns::resolve(server, &self.name, self.timeout).await;
            let took = began.elapsed();
            match res {
                Ok(dns::Answer::Records(n)) if n > 0 => Outcome::up(
                    format!(
                        "{} resolved by {server} ({n} answers) in {}",
                        self.name,
                        ms(took)
                    ),
                    took,
                    target,
                ),
                Ok(dns::Answer::Records(_)) => Outcome::down(
                    format!("{server}: no A record for {}", self.name),
                    Some(took),
                    target,
                ),
                Ok(dns::Answer::Rcode(r)) => Outcome::down(
                    format!("{server}: {} for {}", dns::rcode_name(r), self.name),
                    Some(took),
                    target,
                ),
                Err(e) => Outcome::down(format!("{server}: {e}"), Some(took), target),
            }
        })
    }
}

struct TcpProbe {
    target: Option<SocketAddr>,
    /// The resolver, whose port 53 is the default target.
    server: Option<SocketAddr>,
    timeout: Duration,
}

impl Probe for TcpProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Tcp
    }

    fn check(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            let addr = self
                .target
                .or_else(|| dns::resolver(self.server).map(|s| SocketAddr::new(s.ip(), 53)));
            let Some(addr) = addr else {
                return Outcome::down(
                    "no target: set connectivity.tcp_target (or a resolver)",
                    None,
                    Some("resolver".into()),
                );
            };
            let target = Some(addr.ip().to_string());
            let began = Instant::now();
            let res =
                tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr)).await;
            let took = began.elapsed();
            match res {
                Ok(Ok(_)) => {
                    Outcome::up(format!("connected to {addr} in {}", ms(took)), took, target)
                }
                Ok(Err(e)) => Outcome::down(format!("{addr}: {e}"), Some(took), target),
                Err(_) => Outcome::down(
                    format!(
                        "{addr}: no connection within {} ms",
                        self.timeout.as_millis()
                    ),
                    Some(took),
                    target,
                ),
            }
        })
    }
}

struct HttpProbe {
    url: reqwest::Url,
    client: reqwest::Client,
    server: Option<SocketAddr>,
    timeout: Duration,
}

impl HttpProbe {
    fn new(url: &str, server: Option<SocketAddr>, timeout: Duration) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(url)?;
        // Built once. No pooled connections: each probe measures connecting, and a
        // kept-alive connection could outlive the route it came over.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .timeout(timeout)
            .user_agent(concat!(
                "outpost/",
                env!("CARGO_PKG_VERSION"),
                " connectivity"
            ))
            .build()?;
        Ok(HttpProbe {
            url,
            client,
            server,
            timeout,
        })
    }

    /// The host's address: literal, or resolved by the system. A name that does not
    /// resolve is charged to the resolver, not to the host (one dead resolver must not look
    /// like two dead targets).
    async fn target(&self) -> Result<IpAddr, Outcome> {
        let Some(host) = self.url.host_str().map(str::to_owned) else {
            return Err(Outcome::down("the URL has no host", None, None));
        };
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(ip);
        }
        let port = self.url.port_or_known_default().unwrap_or(443);
        let began = Instant::now();
        let looked =
            tokio::time::timeout(self.timeout, tokio::net::lookup_host((host.as_str(), port)))
                .await;
        let resolver = dns::resolver(self.server)
            .map(|s| s.ip().to_string())
            .unwrap_or_else(|| "resolver".into());
        match looked {
            Ok(Ok(mut addrs)) => match addrs.next() {
                Some(a) => Ok(a.ip()),
                None => Err(Outcome::down(
                    format!("{host}: no address"),
                    Some(began.elapsed()),
                    Some(resolver),
                )),
            },
            Ok(Err(e)) => Err(Outcome::down(
                format!("{host}: {e}"),
                Some(began.elapsed()),
                Some(resolver),
            )),
            Err(_) => Err(Outcome::down(
                format!(
                    "{host}: not resolved within {} ms",
                    self.timeout.as_millis()
                ),
                Some(began.elapsed()),
                Some(resolver),
            )),
        }
    }
}

impl Probe for HttpProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Http
    }

    fn check(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            let ip = match self.target().await {
                Ok(ip) => ip,
                Err(down) => return down,
            };
            let target = Some(ip.to_string());
            let began = Instant::now();
            let res = self.client.get(self.url.clone()).send().await;
            let took = began.elapsed();
            match res {
                // Any answer but a gateway's or server's error means the far side was
                // reached (a 204, a redirect, even a 404).
                Ok(r) if r.status().as_u16() < 500 => Outcome::up(
                    format!("HTTP {} in {}", r.status().as_u16(), ms(took)),
                    took,
                    target,
                ),
                Ok(r) => Outcome::down(format!("HTTP {}", r.status().as_u16()), Some(took), target),
                Err(e) => {
                    let mut why = e.to_string();
                    let mut src = std::error::Error::source(&e);
                    while let Some(s) = src {
                        why = format!("{why}: {s}");
                        src = s.source();
                    }
                    Outcome::down(why, Some(took), target)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
