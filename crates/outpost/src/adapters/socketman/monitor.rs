//! SocketMan's connectivity on the agent's connectivity monitor (issue 18 §5, issue 14's
//! monitor and recovery ladder).
//!
//! SocketMan measured a score of its own every monitor pass (route +1, `health_url:
//! health_port` +3, `www.google.com:80` +5) and rebooted after `reboot` seconds offline.
//! Here, with `socketman.config` set, the monitor is switched on and configured from
//! `config.json` ([`adopt`], at config validation):
//! - probes: the default route; TCP to `health_url:health_port` (the name resolved at each
//!   round, so SocketMan's DNS part is in it, and a failed lookup is charged to the
//!   resolver); HTTP GET of `http://www.google.com/` (SocketMan's web check; any answer
//!   is up). Two independent remote targets, so the ladder's guard rail "at least two
//!   independent targets failing" can be met; no separate DNS probe;
//! - `period_ms` = `monitor` seconds: idle is the monitor's one timer, nothing more;
//! - `reboot` > 0: the ladder `socketman_network_restart` (OpenWrt's
//!   `/etc/init.d/network restart`), then `socketman_reboot` (`/sbin/reboot`), the reboot
//!   held until the uplink has been offline `reboot` seconds (`reboot_after_offline_ms`,
//!   a time that restarts when the link returns). The two are built-in `[commands.*]`
//!   entries, fixed argv, no parameters, run as root without Landlock (they restart the
//!   network and reboot: nothing less can), through the same `Exec` and audit chain as any
//!   step. A `[commands.socketman_network_restart]` or `[commands.socketman_reboot]` of the
//!   operator replaces them. Either way the entry is `local_only`: exec refuses it to every
//!   job (remote or local), so no adapter or API path has to remember it. `reboot = 0`: no
//!   ladder.
//!
//! How the two configs combine: every `connectivity.*` key the operator set (file,
//! environment or flag) wins; SocketMan's file fills in only the keys left at their
//! built-in defaults. `connectivity.enabled = false`, set explicitly, keeps the monitor off
//! (the score is then measured by `score.rs` as before, and nothing recovers). A config
//! provisioned later (`-b`) does not reconfigure a monitor already running: the probes and
//! the ladder are the start-up file's (or the defaults', when there was none).
//!
//! `device.status` is [`score`]: SocketMan's weights over the monitor's latest result of
//! each probe.

use std::sync::Arc;
use std::time::Duration;

use outpost_connectivity::{Outcome, ProbeKind, Status};
use outpost_core::{JobRecord, Store};
use outpost_exec::{AuditRecord, Decision, Origin, Phase, Source};

use crate::config::{Config, KeyError};
use crate::connectivity::link::Link;

/// The built-in network restart step (OpenWrt's init script).
pub const NETWORK_RESTART: &str = "socketman_network_restart";
/// The built-in reboot step.
pub const REBOOT: &str = "socketman_reboot";
pub const NETWORK_RESTART_ARGV: [&str; 2] = ["/etc/init.d/network", "restart"];
pub const REBOOT_ARGV: [&str; 1] = ["/sbin/reboot"];
/// SocketMan's hard-coded web check, as the HTTP probe's URL.
pub const WEB_URL: &str = "http://www.google.com/";

/// Configures the connectivity monitor from SocketMan's `config.json` (see the module).
/// A file that cannot be read is left to `check_socketman` (or to provisioning).
pub fn adopt(cfg: &mut Config) -> Result<(), KeyError> {
    let Some(path) = cfg.socketman.config.clone() else {
        return Ok(());
    };
    let Ok(sm) = super::config::load(&path) else {
        return Ok(());
    };
    let free = |k: &str| !cfg.explicit.contains(k);
    if !free("connectivity.enabled") && !cfg.connectivity.enabled {
        return Ok(());
    }
    let free_period = free("connectivity.period_ms");
    let free_degraded = free("connectivity.degraded_period_ms");
    let free_dns = free("connectivity.dns_name");
    let free_tcp = free("connectivity.tcp_target");
    let free_http = free("connectivity.http_url");
    let free_steps = free("connectivity.recovery.steps");
    let free_reboot = free("connectivity.recovery.reboot");
    let free_after = free("connectivity.recovery.reboot_after_offline_ms");
    let c = &mut cfg.connectivity;
    c.enabled = true;
    if free_period {
        c.period_ms = sm.monitor.saturating_mul(1000);
    }
    if free_degraded && c.degraded_period_ms > c.period_ms {
        c.degraded_period_ms = c.period_ms;
    }
    if free_dns {
        c.dns_name = String::new();
    }
    if free_tcp {
        c.tcp_target = None;
        c.tcp_host = Some((sm.health_url.clone(), sm.health_port));
    }
    if free_http {
        c.http_url = Some(WEB_URL.to_owned());
    }
    if !free_steps {
        return Ok(());
    }
    if sm.reboot == 0 {
        c.recovery.steps = String::new();
        return Ok(());
    }
    if !cfg.exec.enabled {
        return Err(KeyError::new(
            "socketman.config",
            format_args!(
                "{}: reboot = {} runs the recovery ladder's commands (network restart, reboot): set exec.enabled = true",
                path.display(),
                sm.reboot
            ),
        ));
    }
    c.recovery.steps = format!("{NETWORK_RESTART}, {REBOOT}");
    if free_reboot {
        c.recovery.reboot = REBOOT.to_owned();
    }
    if free_after {
        c.recovery.reboot_after_offline_ms = sm.reboot.saturating_mul(1000);
    }
    let commands = cfg
        .commands
        .get_or_insert_with(|| toml::Value::Table(Default::default()));
    if let Some(t) = commands.as_table_mut() {
        for (name, argv) in [
            (NETWORK_RESTART, &NETWORK_RESTART_ARGV[..]),
            (REBOOT, &REBOOT_ARGV[..]),
        ] {
            let entry = t.entry(name).or_insert_with(|| builtin(argv));
            // The ladder's steps are the agent's to take, never a remote job's, whichever
            // entry (built in or the operator's) defines them: exec refuses every job.
            if let Some(e) = entry.as_table_mut() {
                e.insert("local_only".into(), toml::Value::Boolean(true));
            }
        }
    }
    Ok(())
}

/// A built-in step's `[commands.NAME]`: fixed argv, as root, no Landlock.
fn builtin(argv: &[&str]) -> toml::Value {
    let mut t = toml::map::Map::new();
    t.insert(
        "argv".into(),
        toml::Value::Array(argv.iter().map(|a| toml::Value::from(*a)).collect()),
    );
    t.insert("user".into(), toml::Value::Integer(0));
    t.insert("landlock".into(), toml::Value::from("off"));
    toml::Value::Table(t)
}

/// A probe's latest result: `None` when it is not one of the monitor's probes.
fn latest(s: &Status, kind: ProbeKind) -> Option<bool> {
    s.probes
        .iter()
        .find(|p| p.probe == kind)
        .map(|p| p.last.as_ref().is_some_and(|o| o.up))
}

/// SocketMan's 0/1/4/6/9 from the monitor's latest results: the route (+1; without it, 0),
/// the health target (+3: TCP, and DNS when the operator added a DNS probe), the web (+5).
/// A probe the operator left out counts as failed, the route's as present.
pub fn score(s: &Status) -> u8 {
    score_of(&|k| latest(s, k))
}

/// The same from one round of results (a `network` job's check).
pub fn score_round(round: &[(ProbeKind, Outcome)]) -> u8 {
    score_of(&|k| round.iter().find(|(p, _)| *p == k).map(|(_, o)| o.up))
}

fn score_of(up: &dyn Fn(ProbeKind) -> Option<bool>) -> u8 {
    let route = up(ProbeKind::Route).unwrap_or(true);
    let health = up(ProbeKind::Tcp).unwrap_or(false) && up(ProbeKind::Dns).unwrap_or(true);
    let web = up(ProbeKind::Http).unwrap_or(false);
    super::score::of(route, health, web)
}

/// SocketMan's "offline": a score of 1 or less (no route, or neither target answers).
pub fn online(score: u8) -> bool {
    score > 1
}

/// One check of a `network` job: every probe once, and SocketMan's score of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub score: u8,
    pub online: bool,
    pub probes: Vec<CheckedProbe>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckedProbe {
    pub probe: ProbeKind,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Runs the monitor's probes once, now.
pub async fn check(link: &Link) -> Check {
    let round = link.check_now().await;
    let score = score_round(&round);
    Check {
        score,
        online: online(score),
        probes: round
            .into_iter()
            .map(|(probe, outcome)| CheckedProbe { probe, outcome })
            .collect(),
    }
}

/// The outbox event recording a `network` job's checks (SocketMan's wire is unchanged: its
/// consumer does not read this kind).
pub const NETWORK_CHECK_EVENT: &str = "socketman.network_check";

/// After a `network` job: waits for its result (up to `wait`), checks again, and when the
/// job cut the uplink (online before, offline after) tells the monitor at once, which then
/// confirms it and runs the ladder's first step (network restart) without its wait. Both
/// checks go to the outbox as a [`NETWORK_CHECK_EVENT`], to the log, and to the audit log.
pub async fn after_job(
    link: Link,
    store: Store,
    exec: Option<outpost_exec::Exec>,
    id: String,
    before: Check,
    mut done: tokio::sync::watch::Receiver<Option<Arc<JobRecord>>>,
    wait: Duration,
) {
    let finished = tokio::time::timeout(wait, done.wait_for(|d| d.is_some()))
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|d| {
            d.as_ref()
                .map(|r| (r.id.to_string(), r.state.as_str().to_owned()))
        });
    let after = check(&link).await;
    let cut = before.online && !after.online;
    if cut {
        link.urgent();
    }
    let why = format!(
        "network job {id}: before: score {} ({}), after: score {} ({}){}",
        before.score,
        if before.online { "online" } else { "offline" },
        after.score,
        if after.online { "online" } else { "offline" },
        if cut {
            ": the job cut the uplink, recovery ladder started"
        } else {
            ""
        }
    );
    if cut {
        tracing::warn!(id = %id, "socketman: {why}");
    } else {
        tracing::info!(id = %id, "socketman: {why}");
    }
    let payload = serde_json::json!({
        "id": id,
        "job_id": finished.as_ref().map(|(j, _)| j),
        "job_state": finished.as_ref().map(|(_, s)| s),
        "before": before,
        "after": after,
        "uplink_cut": cut,
        "recovery_started": cut,
    });
    if let Err(e) = store
        .append_event(outpost_core::Event::new(NETWORK_CHECK_EVENT, payload))
        .await
    {
        tracing::error!(id = %id, error = %e, "socketman: storing a network job's checks failed");
    }
    let Some(exec) = exec else { return };
    let origin = Origin::new(
        Source::Adapter,
        format!("{}{id}", super::jobs::SOURCE_PREFIX),
    );
    let mut rec = AuditRecord::new(Phase::Outcome, &origin, Decision::Allowed, "network_check");
    rec.field = Some("meta.type".into());
    rec.reason = Some(why);
    let log = exec.audit_log().clone();
    match tokio::task::spawn_blocking(move || log.append(rec)).await {
        Ok(Ok(written)) => crate::executors::exec::publish_audit(&store, vec![written]).await,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "socketman: a network job's audit line was not written")
        }
        Err(e) => tracing::error!(error = %e, "socketman: the audit task failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(up: bool) -> Outcome {
        if up {
            Outcome::up("ok", Duration::from_millis(1), None)
        } else {
            Outcome::down("down", None, None)
        }
    }

    #[test]
    fn issue18_score_from_probe_results_uses_socketmans_weights() {
        let r = |route, tcp, http| {
            score_round(&[
                (ProbeKind::Route, o(route)),
                (ProbeKind::Tcp, o(tcp)),
                (ProbeKind::Http, o(http)),
            ])
        };
        assert_eq!(r(false, true, true), 0);
        assert_eq!(r(true, false, false), 1);
        assert_eq!(r(true, true, false), 4);
        assert_eq!(r(true, false, true), 6);
        assert_eq!(r(true, true, true), 9);
        // An operator's DNS probe is part of the health check.
        let with_dns = score_round(&[
            (ProbeKind::Route, o(true)),
            (ProbeKind::Dns, o(false)),
            (ProbeKind::Tcp, o(true)),
            (ProbeKind::Http, o(true)),
        ]);
        assert_eq!(with_dns, 6);
        assert!(!online(1) && online(4));
    }
}
