//! What "healthy" means for an update's probation: the store opened, the API serving (both
//! true once every component has started) and every configured uplink connected.

use std::sync::{Arc, Mutex, PoisonError};

use crate::uplink::UplinkMetrics;

#[derive(Clone, Default)]
pub struct Readiness(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    started: bool,
    uplinks: Vec<&'static str>,
    metrics: Option<UplinkMetrics>,
}

impl Readiness {
    /// An uplink that must be connected before the agent counts as healthy.
    pub fn expect_uplink(&self, name: &'static str, metrics: &UplinkMetrics) {
        let mut i = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        i.uplinks.push(name);
        i.metrics = Some(metrics.clone());
    }

    /// Every component started: the store is open and the API listening.
    pub fn mark_started(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .started = true;
    }

    /// `Ok` when healthy; else what is still missing.
    pub fn check(&self) -> Result<(), String> {
        let i = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !i.started {
            return Err("the agent has not finished starting".into());
        }
        let down: Vec<&str> = i
            .uplinks
            .iter()
            .copied()
            .filter(|u| {
                i.metrics
                    .as_ref()
                    .is_none_or(|m| m.connected.get_or_create(&UplinkMetrics::label(u)).get() != 1)
            })
            .collect();
        if down.is_empty() {
            Ok(())
        } else {
            Err(format!("uplink not connected: {}", down.join(", ")))
        }
    }
}
