//! The periodic stats push (`stats.*`), on while `stats.url` is set: snapshots cached in
//! DATA_DIR/stats, POSTed gzipped to the collector, its counters on `/metrics`.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use outpost_host::push::{self, PushCounters, Pusher, StatsConfig};
use secrecy::ExposeSecret;

use super::{Component, Registrar, Shared, Start};

pub struct Stats {
    pusher: Pusher,
}

pub fn build(
    cfg: &mut crate::config::Config,
    shared: &Shared,
) -> anyhow::Result<Option<Box<dyn Component>>> {
    let Some(url) = cfg.stats.url.take() else {
        return Ok(None);
    };
    let mut stats = StatsConfig::new(url.expose_secret(), shared.data_dir.join("stats"));
    stats.backup_url = cfg
        .stats
        .backup_url
        .take()
        .map(|u| u.expose_secret().to_owned());
    stats.interval = Duration::from_secs(cfg.stats.interval_secs);
    stats.max_cache_bytes = cfg.stats.cache_max_bytes;
    stats.ca_file = cfg.stats.ca_file.clone();
    let interval = stats.interval;
    // PushError names the URL by scheme and host only, never its path or query.
    let pusher = Pusher::new(stats, shared.host.clone())
        .context("stats.url / stats.backup_url / stats.ca_file")?;
    tracing::info!(
        interval_secs = interval.as_secs(),
        cache = %pusher.cache_path().display(),
        "stats push: on"
    );
    Ok(Some(Box::new(Stats { pusher })))
}

impl Component for Stats {
    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        r.metrics
            .register_collector(Box::new(StatsPushCollector(self.pusher.counters())));
        Ok(())
    }

    fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
        let stop = cx.stop_token();
        let pusher = self.pusher;
        cx.spawn(async move { push::run_pusher(&pusher, stop.cancelled_owned()).await });
        Ok(())
    }
}

/// The stats push's counters on `/metrics`, read at scrape time.
#[derive(Debug)]
struct StatsPushCollector(Arc<PushCounters>);

impl prometheus_client::collector::Collector for StatsPushCollector {
    fn encode(
        &self,
        mut enc: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> std::fmt::Result {
        let c = &self.0;
        outpost_host::prom::atomic_counters(
            &mut enc,
            &[
                (
                    "outpost_stats_lines_cached",
                    "Snapshots appended to the stats cache",
                    &c.lines_cached,
                ),
                (
                    "outpost_stats_lines_dropped",
                    "Stats snapshots dropped: cache full (oldest first) or unreadable",
                    &c.lines_dropped,
                ),
                (
                    "outpost_stats_batches_sent",
                    "Stats batches a URL answered 2xx to",
                    &c.batches_sent,
                ),
                (
                    "outpost_stats_posts_failed",
                    "Stats POST attempts that failed, per URL tried",
                    &c.posts_failed,
                ),
            ],
        )?;
        Ok(())
    }
}
