//! The uplinks, one component each: MQTT (`uplink.mqtt.*`, on while its `url` is set) and
//! Phoenix over WebSocket (`uplink.ws.*`, likewise). Both stop in the egress phase, after
//! the drain, so the results it produced are still sent.

use std::{future::Future, pin::Pin, time::Duration};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Config,
    uplink::{self, mqtt::MqttUplink, UplinkMetrics},
};

use super::{Component, Registrar, Shared, Start};

type Session = Pin<Box<dyn Future<Output = ()> + Send>>;
type Run = Box<dyn FnOnce(uplink::Context, CancellationToken) -> Session + Send>;

/// One uplink: its transport, ready to run, and what its `uplink::Context` is made of.
pub struct Uplink {
    run: Run,
    tuning: uplink::Tuning,
    default_timeout: Duration,
    metrics: Option<UplinkMetrics>,
    /// The uplink's label (`mqtt`, `ws`): probation waits for it to connect.
    name: &'static str,
}

impl Uplink {
    fn boxed(cfg: &Config, name: &'static str, run: Run) -> Box<dyn Component> {
        Box::new(Uplink {
            run,
            tuning: uplink::Tuning::from_config(&cfg.uplink),
            default_timeout: Duration::from_millis(cfg.jobs.default_timeout_ms),
            metrics: None,
            name,
        })
    }
}

pub fn mqtt(cfg: &mut Config, shared: &Shared) -> anyhow::Result<Option<Box<dyn Component>>> {
    let Some(brokers) = cfg.uplink.mqtt.url.take() else {
        return Ok(None);
    };
    let m = &mut cfg.uplink.mqtt;
    let tls = match brokers.tls() {
        true => Some(
            uplink::tls::client_config_with(&uplink::tls::ClientTls {
                ca_file: m.ca_file.as_deref(),
                identity: m.client_cert.as_deref().zip(m.client_key.as_deref()),
            })
            .context("uplink.mqtt: TLS")?,
        ),
        false => None,
    };
    let link = MqttUplink {
        brokers: uplink::mqtt::Brokers::new(brokers, &shared.agent_id),
        protocol: m.protocol,
        tls,
        username: m.username.clone(),
        password: m.password.take(),
        pool: m.pool.clone(),
        keepalive: Duration::from_secs(m.keepalive_secs),
    };
    let run: Run = Box::new(move |cx, stop| Box::pin(link.run(cx, stop)));
    Ok(Some(Uplink::boxed(cfg, "mqtt", run)))
}

#[cfg(feature = "ws")]
pub fn ws(cfg: &mut Config, _: &Shared) -> anyhow::Result<Option<Box<dyn Component>>> {
    let Some(url) = cfg.uplink.ws.url.take() else {
        return Ok(None);
    };
    let link = uplink::ws::WsUplink {
        url,
        token: cfg.uplink.ws.token.take(),
        pin: cfg.uplink.ws.pin_sha256,
    };
    let run: Run = Box::new(move |cx, stop| Box::pin(link.run(cx, stop)));
    Ok(Some(Uplink::boxed(cfg, "ws", run)))
}

impl Component for Uplink {
    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        // One metric family for every uplink, labelled by uplink.
        let metrics = r.common(|reg| {
            let m = UplinkMetrics::default();
            m.register(reg);
            m
        });
        r.shared.readiness.expect_uplink(self.name, &metrics);
        self.metrics = Some(metrics);
        Ok(())
    }

    fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
        let ucx = uplink::Context::new(
            cx.shared.agent_id.clone(),
            cx.dispatcher.clone(),
            self.metrics.unwrap_or_default(),
            self.default_timeout,
            self.tuning,
        );
        cx.spawn((self.run)(ucx, cx.stop_token()));
        Ok(())
    }
}
