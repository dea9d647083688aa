//! SocketMan's connectivity score (../shared/compat/socketman.md §7), reported as
//! `device.status` and read by the recovery timer: 0 without a default route, +1 with
//! one, +3 when the health check answers (`health_url` resolved, a TCP connect to
//! `health_port`, "HELLO" sent), +5 when the web check does (the same against
//! `www.google.com:80`). So 0, 1, 4, 6 or 9. Each step has SocketMan's 3 s limit.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

/// SocketMan's hard-coded web check.
pub const WEB: (&str, u16) = ("www.google.com", 80);
const STEP: Duration = Duration::from_secs(3);

/// Where the two reachability checks go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    pub health: (String, u16),
    pub web: (String, u16),
}

/// A TCP connect to `host:port` that sends "HELLO", within SocketMan's limits.
pub async fn reaches(host: &str, port: u16) -> bool {
    let attempt = async {
        let addrs: Vec<_> = tokio::net::lookup_host((host, port)).await.ok()?.collect();
        let addr = *addrs.first()?;
        let mut s = tokio::time::timeout(STEP, tokio::net::TcpStream::connect(addr))
            .await
            .ok()?
            .ok()?;
        tokio::time::timeout(STEP, s.write_all(b"HELLO"))
            .await
            .ok()?
            .ok()
    };
    tokio::time::timeout(STEP * 3, attempt)
        .await
        .ok()
        .flatten()
        .is_some()
}

/// The score from its three parts.
pub fn of(route: bool, health: bool, web: bool) -> u8 {
    if !route {
        return 0;
    }
    1 + if health { 3 } else { 0 } + if web { 5 } else { 0 }
}

/// Measures the score now; `route` says whether a default route exists.
pub async fn measure(route: bool, t: &Targets) -> u8 {
    if !route {
        return 0;
    }
    let (health, web) = tokio::join!(reaches(&t.health.0, t.health.1), reaches(&t.web.0, t.web.1));
    of(route, health, web)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue18_score_values_are_socketmans() {
        let mut all: Vec<u8> = [false, true]
            .iter()
            .flat_map(|r| {
                [false, true]
                    .iter()
                    .flat_map(move |h| [false, true].map(|w| of(*r, *h, w)))
            })
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all, vec![0, 1, 4, 6, 9]);
    }
}
