//! From probe results to a state: per-probe hysteresis, then online / degraded / offline
//! and a score.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::probe::{Outcome, ProbeKind};
use crate::status::ProbeView;

/// The uplink's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Not every probe has a settled result yet (just started).
    Unknown,
    /// Every probe is up.
    Online,
    /// Some probes are down, at least one remote target still answers (or only the
    /// route is missing).
    Degraded,
    /// Every remote target is down (or, with no remote probe configured, the route is).
    Offline,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Online => "online",
            Health::Degraded => "degraded",
            Health::Offline => "offline",
        }
    }

    pub const ALL: [Health; 4] = [
        Health::Unknown,
        Health::Online,
        Health::Degraded,
        Health::Offline,
    ];
}

/// How many results in a row change a probe's settled state: `fall` failures to go down,
/// `rise` successes to come back. One lost probe does not flap the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hysteresis {
    pub fall: u32,
    pub rise: u32,
}

impl Default for Hysteresis {
    fn default() -> Self {
        Hysteresis { fall: 2, rise: 2 }
    }
}

#[derive(Debug, Clone)]
struct Track {
    kind: ProbeKind,
    /// The settled state; `None` until the first `rise` successes or `fall` failures.
    settled: Option<bool>,
    /// Results in a row that disagree with `settled`.
    streak: u32,
    last: Option<Outcome>,
    /// The target of the latest failure: a probe settled down still names what failed
    /// while its first successes come in.
    failed_target: Option<String>,
}

/// The settled view of every configured probe.
#[derive(Debug, Clone)]
pub struct Assessor {
    tracks: Vec<Track>,
    hysteresis: Hysteresis,
}

impl Assessor {
    pub fn new(kinds: &[ProbeKind], hysteresis: Hysteresis) -> Self {
        let mut kinds = kinds.to_vec();
        kinds.sort();
        kinds.dedup();
        Assessor {
            tracks: kinds
                .into_iter()
                .map(|kind| Track {
                    kind,
                    settled: None,
                    streak: 0,
                    last: None,
                    failed_target: None,
                })
                .collect(),
            hysteresis: Hysteresis {
                fall: hysteresis.fall.max(1),
                rise: hysteresis.rise.max(1),
            },
        }
    }

    /// Takes one round of results (a kind not configured is ignored).
    pub fn observe(&mut self, results: impl IntoIterator<Item = (ProbeKind, Outcome)>) {
        for (kind, outcome) in results {
            let Some(t) = self.tracks.iter_mut().find(|t| t.kind == kind) else {
                continue;
            };
            let up = outcome.up;
            if !up {
                t.failed_target = outcome.target.clone();
            }
            t.last = Some(outcome);
            if t.settled == Some(up) {
                t.streak = 0;
                continue;
            }
            t.streak += 1;
            let needed = if up {
                self.hysteresis.rise
            } else {
                self.hysteresis.fall
            };
            // The very first success settles at once: an agent that starts online says so
            // on its first round. Going down always takes `fall` failures.
            if t.streak >= needed || (up && t.settled.is_none()) {
                t.settled = Some(up);
                t.streak = 0;
            }
        }
    }

    pub fn health(&self) -> Health {
        if self.tracks.is_empty() || self.tracks.iter().any(|t| t.settled.is_none()) {
            return Health::Unknown;
        }
        let up = |t: &Track| t.settled == Some(true);
        if self.tracks.iter().all(up) {
            return Health::Online;
        }
        let mut remote = self.tracks.iter().filter(|t| t.kind.is_remote()).peekable();
        let offline = match remote.peek() {
            Some(_) => remote.all(|t| !up(t)),
            // Only the route is probed: it is all there is to go by.
            None => true,
        };
        if offline {
            Health::Offline
        } else {
            Health::Degraded
        }
    }

    /// 0..=100: the weight of the probes settled up over the weight of all configured.
    pub fn score(&self) -> u8 {
        let total: u32 = self.tracks.iter().map(|t| t.kind.weight()).sum();
        if total == 0 {
            return 0;
        }
        let up: u32 = self
            .tracks
            .iter()
            .filter(|t| t.settled == Some(true))
            .map(|t| t.kind.weight())
            .sum();
        ((up * 100 + total / 2) / total) as u8
    }

    /// The distinct remote targets of the probes settled down. Two probes failing on the
    /// same target (DNS and TCP to the one resolver) are one failing target.
    pub fn failing_targets(&self) -> BTreeSet<String> {
        self.tracks
            .iter()
            .filter(|t| t.kind.is_remote() && t.settled == Some(false))
            .filter_map(|t| t.failed_target.clone())
            .collect()
    }

    /// Some probe's latest result disagrees with its settled state (or it has none yet):
    /// the monitor re-probes at the short period to settle it.
    pub fn settling(&self) -> bool {
        self.tracks
            .iter()
            .any(|t| t.streak > 0 || t.settled.is_none())
    }

    pub fn kinds(&self) -> Vec<ProbeKind> {
        self.tracks.iter().map(|t| t.kind).collect()
    }

    pub fn views(&self) -> Vec<ProbeView> {
        self.tracks
            .iter()
            .map(|t| ProbeView {
                probe: t.kind,
                up: t.settled,
                last: t.last.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    fn o(up: bool, target: &str) -> Outcome {
        Outcome {
            up,
            detail: String::new(),
            latency: Some(Duration::from_millis(1)),
            target: (!target.is_empty()).then(|| target.to_owned()),
        }
    }

    fn all() -> Assessor {
        Assessor::new(&ProbeKind::ALL, Hysteresis::default())
    }

    fn round(a: &mut Assessor, route: bool, dns: bool, tcp: bool, http: bool) {
        a.observe([
            (ProbeKind::Route, o(route, "")),
            (ProbeKind::Dns, o(dns, "192.0.2.53")),
            (ProbeKind::Tcp, o(tcp, "192.0.2.53")),
            (ProbeKind::Http, o(http, "198.51.100.80")),
        ]);
    }

    #[test]
    fn one_lost_probe_does_not_flap_the_state() {
        let mut a = all();
        assert_eq!(a.health(), Health::Unknown);
        round(&mut a, true, true, true, true);
        assert_eq!((a.health(), a.score()), (Health::Online, 100));
        round(&mut a, true, true, true, false);
        assert_eq!(a.health(), Health::Online, "one failure is not enough");
        assert!(a.settling());
        round(&mut a, true, true, true, true);
        assert_eq!(a.health(), Health::Online);
        assert!(!a.settling());
        round(&mut a, true, true, true, false);
        round(&mut a, true, true, true, false);
        assert_eq!((a.health(), a.score()), (Health::Degraded, 70));
        // Coming back takes `rise` successes too.
        round(&mut a, true, true, true, true);
        assert_eq!(a.health(), Health::Degraded);
        round(&mut a, true, true, true, true);
        assert_eq!(a.health(), Health::Online);
    }

    #[test]
    fn every_remote_target_down_is_offline_and_route_only_is_degraded() {
        let mut a = all();
        round(&mut a, true, true, true, true);
        for _ in 0..2 {
            round(&mut a, false, true, true, true);
        }
        assert_eq!((a.health(), a.score()), (Health::Degraded, 90));
        assert!(a.failing_targets().is_empty());
        for _ in 0..2 {
            round(&mut a, false, false, false, false);
        }
        assert_eq!((a.health(), a.score()), (Health::Offline, 0));
        let t: Vec<_> = a.failing_targets().into_iter().collect();
        assert_eq!(t, ["192.0.2.53", "198.51.100.80"]);
    }

    #[test]
    fn dns_and_tcp_on_one_resolver_are_one_failing_target() {
        let mut a = all();
        round(&mut a, true, true, true, true);
        for _ in 0..2 {
            round(&mut a, true, false, false, true);
        }
        assert_eq!(a.health(), Health::Degraded);
        assert_eq!(a.failing_targets().len(), 1);
    }

    #[test]
    fn a_probe_that_starts_down_settles_after_fall_results() {
        let mut a = Assessor::new(&[ProbeKind::Route], Hysteresis::default());
        a.observe([(ProbeKind::Route, o(false, ""))]);
        assert_eq!(a.health(), Health::Unknown);
        a.observe([(ProbeKind::Route, o(false, ""))]);
        assert_eq!(a.health(), Health::Offline);
    }
}
