//! The Towerops agent's wire (`TOWEROPS_API_URL`, a Phoenix v1 channel carrying protobuf
//! jobs and results; see ../shared/compat/towerops.md), to be mapped onto Outpost's own
//! paths. Off by default: nothing here runs unless the URL and a token are configured.
//!
//! Part 1: the session state machine, the socket URL, the heartbeat's address fields, the
//! value rules of SNMP results, traps as SnmpTrap and the first-run stagger of local
//! schedules. Part 2 (feature `towerops`): the configuration from Towerops' variables
//! (`config.rs`), the connection pump with delivery from the outbox (`pump.rs`) and
//! DISCOVER / POLL / TEST_CREDENTIALS as jobs of kind `towerops.snmp` on the one SNMP
//! engine (`job.rs`), PING as a `ping` job on the one ICMP engine (`ping.rs`). Part 3:
//! recurring jobs and checks scheduled locally on the agent's scheduler, persisted
//! (`inventory.rs`); checks as the probes' `check.*` jobs (`checks.rs`). MIKROTIK as
//! `towerops.mikrotik` jobs over a RouterOS API client of our own (`mikrotik/`).
//! The wire shapes themselves live in `outpost_proto::towerops`; this adapter only names
//! them.

pub mod addresses;
#[cfg(feature = "towerops")]
pub mod backup;
#[cfg(all(feature = "towerops", feature = "probes"))]
pub mod checks;
pub mod config;
#[cfg(feature = "towerops")]
pub mod gate;
#[cfg(feature = "towerops")]
pub mod host_keys;
#[cfg(feature = "towerops")]
pub mod inventory;
#[cfg(feature = "towerops")]
pub mod job;
#[cfg(feature = "towerops")]
mod keep;
#[cfg(feature = "towerops")]
pub mod lldp;
#[cfg(feature = "towerops")]
pub mod mikrotik;
#[cfg(all(feature = "towerops", feature = "probes"))]
pub mod ping;
#[cfg(feature = "towerops")]
pub mod probe;
#[cfg(feature = "towerops")]
mod pump;
pub mod session;
#[cfg(feature = "towerops")]
pub mod split;
pub mod stagger;
pub mod trap;
pub mod url;
pub mod values;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A join topic unique per connection: `agent:agent-<unix nanos>-<seq>`. The sequence
/// keeps two connections in the same nanosecond (or a clock stepped back) apart; the
/// original's seconds-only id collided on fast reconnects.
pub fn fresh_topic() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    session::topic(nanos, SEQ.fetch_add(1, Ordering::Relaxed))
}

/// The component's name in the daemon's list and in `agent.info`.
pub const NAME: &str = "towerops";

#[cfg(feature = "towerops")]
pub use component::build;

#[cfg(feature = "towerops")]
mod component {
    use std::sync::Arc;

    use crate::components::{Component, Registrar, Shared, Start};
    use crate::config::Config;
    use crate::executors::snmp;
    use crate::schedules::Schedules;
    use crate::uplink::UplinkMetrics;

    use super::{config, host_keys::HostKeys, job, keep, pump};

    /// The original agent's process-wide SNMP token bucket (compat doc §9).
    const DEFAULT_PDUS_PER_SECOND: u32 = 200;

    struct Towerops {
        settings: config::Settings,
        /// Trust on first use for devices' SSH host keys and RouterOS TLS certificates,
        /// shared by the MikroTik and config-backup kinds.
        host_keys: Arc<HostKeys>,
        metrics: Option<UplinkMetrics>,
        schedules: Option<Schedules>,
    }

    /// On only with `TOWEROPS_API_URL` and a token; a bad variable stops the start with a
    /// configuration error naming it (exit 2).
    pub fn build(_: &mut Config, shared: &Shared) -> anyhow::Result<Option<Box<dyn Component>>> {
        let settings = match config::from_process() {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(None),
            Err(e) => {
                return Err(crate::config::ConfigError::Invalid {
                    key: e.var().into(),
                    origin: "environment".into(),
                    message: e.to_string(),
                }
                .into())
            }
        };
        if settings.insecure {
            tracing::warn!(url = %settings.url, "towerops: TOWEROPS_INSECURE is set: plain ws:// is allowed");
        }
        // The original's image keeps it at /data/known_hosts.json; ours beside the store.
        let keys_path = settings
            .host_keys_file
            .clone()
            .unwrap_or_else(|| shared.data_dir.join("known_hosts.json"));
        let host_keys =
            HostKeys::open(&keys_path).map_err(|e| crate::config::ConfigError::Invalid {
                key: "TOWEROPS_HOST_KEYS_FILE".into(),
                origin: "environment".into(),
                message: e.to_string(),
            })?;
        Ok(Some(Box::new(Towerops {
            settings,
            host_keys: Arc::new(host_keys),
            metrics: None,
            schedules: None,
        })))
    }

    impl Component for Towerops {
        fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
            // The one SNMP engine, shared with the snmp.* kinds.
            let engine = r.common(|_| snmp::Shared::new());
            // Towerops' agent paces SNMP at 200 datagrams/s; so does this one unless the
            // operator set `snmp.max_pdus_per_second`.
            engine.default_rate(DEFAULT_PDUS_PER_SECOND);
            // One job at a time per target, across the kinds (`gate.rs`).
            let gates = Arc::new(super::gate::Gates::default());
            r.kinds.register(job::ToweropsSnmp(engine, gates.clone()));
            r.kinds.register(super::mikrotik::Mikrotik(
                self.host_keys.clone(),
                gates.clone(),
            ));
            r.kinds.register(super::backup::job::ToweropsBackup::new(
                self.host_keys.clone(),
                gates,
            ));
            // The schedules component is earlier in the list and has shared its handle
            // (a detached one, every call "not running", only if it ever is not).
            let store = r.shared.store.clone();
            self.schedules = Some(r.common::<Schedules>(move |_| Schedules::detached(store)));
            self.metrics = Some(r.common(|reg| {
                let m = UplinkMetrics::default();
                m.register(reg);
                m
            }));
            Ok(())
        }

        fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
            tracing::info!(url = %self.settings.url, "towerops: Towerops' agent wire is on");
            let (jobs_inventory, newest_jobs) = tokio::sync::watch::channel(None);
            let (checks_inventory, newest_checks) = tokio::sync::watch::channel(None);
            let link = Arc::new(pump::Link {
                url: self.settings.url,
                token: self.settings.token,
                dispatcher: cx.dispatcher.clone(),
                store: cx.shared.store.clone(),
                metrics: self.metrics.unwrap_or_default(),
                started: cx.shared.started,
                schedules: self
                    .schedules
                    .unwrap_or_else(|| Schedules::detached(cx.shared.store.clone())),
                jobs_inventory,
                checks_inventory,
            });
            cx.spawn(keep::keep(link.clone(), newest_checks, cx.stop_token()));
            cx.spawn(keep::keep(link.clone(), newest_jobs, cx.stop_token()));
            cx.spawn(pump::run(link, cx.stop_token()));
            Ok(())
        }
    }
}
