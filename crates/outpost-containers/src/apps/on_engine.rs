//! The reconciler's `AppEngine` over the real engine: managed containers are those
//! labelled `outpost.app`, and events come from the engine's `/events` stream (type
//! `container`) kept only when they carry that label, so an unlabelled look-alike is never
//! seen, let alone touched. Every call runs within the engine's `call_timeout`.
//!
//! A tap (optional) receives every managed container's event as the stream yields it: the
//! binary turns them into `container.*` outbox events without a second subscription.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::query_parameters::EventsOptions;
use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::run_spec::RunSpec;

use super::adopt::Adoptions;
use super::convert::APP_LABEL;
use super::cursor::EventCursor;
use super::plan::{ActualContainer, ContainerState, Health};
use super::reconcile::{AppEngine, EngineEvent, EngineEventKind};

/// How long a managed container gets to stop (SIGTERM) before SIGKILL.
const STOP_GRACE_SECS: u32 = 10;

/// The real engine, as the reconciler sees it.
#[derive(Clone)]
pub struct OnEngine {
    engine: Engine,
    tap: Option<mpsc::Sender<EngineEvent>>,
    /// Set by the first subscription (before the reconciler's first pass), moved by every
    /// event given out: where the next subscription's replay starts.
    cursor: Arc<Mutex<Option<EventCursor>>>,
    /// Containers of another agent's taken as declared services' (`adopt.rs`); empty
    /// unless a drop-in adapter sets rules.
    adoptions: Adoptions,
}

impl OnEngine {
    pub fn new(engine: Engine, tap: Option<mpsc::Sender<EngineEvent>>) -> Self {
        OnEngine {
            engine,
            tap,
            cursor: Arc::new(Mutex::new(None)),
            adoptions: Adoptions::default(),
        }
    }

    /// Sends every managed container's event to `tap` as well.
    pub fn with_tap(mut self, tap: mpsc::Sender<EngineEvent>) -> Self {
        self.tap = Some(tap);
        self
    }

    /// Lists and watches the containers `adoptions` maps as well as Outpost's own.
    pub fn with_adoptions(mut self, adoptions: Adoptions) -> Self {
        self.adoptions = adoptions;
        self
    }

    /// The replay mark for a new subscription: the cursor, set to now on the first.
    fn since(&self) -> String {
        let mut c = self.cursor.lock().unwrap_or_else(|p| p.into_inner());
        c.get_or_insert_with(EventCursor::now).since()
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.engine.settings().call_timeout
    }
}

impl OnEngine {
    /// The container's health as its inspect reports it (`None`: no health check, or the
    /// engine did not answer in time).
    async fn health_of(&self, id: &str) -> Option<Health> {
        let c = self.engine.inspect(id, self.deadline()).await.ok()?;
        let status = c.state?.health?.status?;
        use bollard::models::HealthStatusEnum as S;
        match status {
            S::HEALTHY => Some(Health::Healthy),
            S::UNHEALTHY => Some(Health::Unhealthy),
            S::STARTING => Some(Health::Starting),
            _ => None,
        }
    }
}

/// `running` and the like, as the list call writes them.
fn parse_state(s: &str) -> ContainerState {
    match s {
        "created" => ContainerState::Created,
        "running" => ContainerState::Running,
        "paused" => ContainerState::Paused,
        "restarting" => ContainerState::Restarting,
        "removing" => ContainerState::Removing,
        "exited" | "stopped" => ContainerState::Exited,
        // Podman's `configured`/`initialized` are created-but-not-started.
        "configured" | "initialized" => ContainerState::Created,
        _ => ContainerState::Dead,
    }
}

/// The exit code from the list's status words (`Exited (137) 2 seconds ago`): the list
/// call carries no other, and an inspect per container would cost a call each pass.
pub fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split(')').next()?.trim().parse().ok()
}

/// The health from the list's status words (`Up 3 seconds (healthy)`).
pub fn health_from_status(status: &str) -> Option<Health> {
    if status.contains("(healthy)") {
        Some(Health::Healthy)
    } else if status.contains("(unhealthy)") {
        Some(Health::Unhealthy)
    } else if status.contains("(health: starting)") || status.contains("(starting)") {
        Some(Health::Starting)
    } else {
        None
    }
}

/// An `/events` message to the reconciler's event, for the actions it cares about.
pub fn map_event(
    action: &str,
    id: String,
    attributes: HashMap<String, String>,
) -> Option<EngineEvent> {
    let kind = match action {
        "start" => EngineEventKind::Start,
        "die" => EngineEventKind::Die {
            exit_code: attributes.get("exitCode").and_then(|c| c.parse().ok()),
        },
        "oom" => EngineEventKind::Oom,
        a => {
            let h = a
                .strip_prefix("health_status")?
                .trim_start_matches(':')
                .trim();
            EngineEventKind::Health(match h {
                "healthy" => Health::Healthy,
                "unhealthy" => Health::Unhealthy,
                _ => Health::Starting,
            })
        }
    };
    // The attributes carry the labels beside `name`, `image`, `exitCode`: the ownership
    // labels are what the reconciler reads.
    let labels: BTreeMap<String, String> = attributes.into_iter().collect();
    Some(EngineEvent { id, labels, kind })
}

impl AppEngine for OnEngine {
    type Error = EngineError;

    async fn list_managed(&self) -> Result<Vec<ActualContainer>, EngineError> {
        let mut filters = HashMap::new();
        filters.insert("label".to_owned(), vec![APP_LABEL.to_owned()]);
        let mut rows = self
            .engine
            .list_summaries(true, &filters, self.deadline())
            .await?;
        // Adoption candidates: unowned containers carrying a rule's label, listed only
        // while there are rules, and kept only when a rule claims them.
        for key in self.adoptions.label_keys() {
            let filters = HashMap::from([("label".to_owned(), vec![key])]);
            for mut c in self
                .engine
                .list_summaries(true, &filters, self.deadline())
                .await?
            {
                if rows.iter().any(|r| r.id == c.id) {
                    continue;
                }
                if let Some(extra) = self.adoptions.claim(&c.name(), &c.labels) {
                    c.labels.extend(extra);
                    rows.push(c);
                }
            }
        }
        Ok(rows
            .into_iter()
            .map(|c| {
                let state = parse_state(&c.state);
                ActualContainer {
                    name: c.name(),
                    id: c.id,
                    labels: c.labels,
                    state,
                    exit_code: (state == ContainerState::Exited)
                        .then(|| exit_code_from_status(&c.status))
                        .flatten(),
                    health: health_from_status(&c.status),
                }
            })
            .collect())
    }

    async fn create(&self, spec: &RunSpec) -> Result<String, EngineError> {
        self.engine.create(spec, self.deadline()).await
    }

    async fn start(&self, id: &str) -> Result<(), EngineError> {
        self.engine.start(id, self.deadline()).await
    }

    async fn stop(&self, id: &str) -> Result<(), EngineError> {
        let deadline = self.deadline() + Duration::from_secs(u64::from(STOP_GRACE_SECS));
        self.engine.stop(id, Some(STOP_GRACE_SECS), deadline).await
    }

    async fn remove(&self, id: &str) -> Result<(), EngineError> {
        self.engine.remove(id, true, true, self.deadline()).await
    }

    fn events(&self) -> BoxStream<'static, EngineEvent> {
        let engine = self.engine.clone();
        let tap = self.tap.clone();
        let deadline = self.deadline();
        // Taken now, not when the stream is first polled: the caller subscribes before its
        // first pass, and whatever that pass causes is replayed (`cursor`).
        let since = self.since();
        let cursor = self.cursor.clone();
        let adoptions = self.adoptions.clone();
        let connect = async move {
            let docker = match engine.client_by(deadline).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "apps: cannot subscribe to the engine's events");
                    return stream::empty().boxed();
                }
            };
            // Ownership is filtered here, not by the engine: Podman's `label` filter on
            // `/events` matches nothing for a key without a value.
            let mut filters = HashMap::new();
            filters.insert("type".to_owned(), vec!["container".to_owned()]);
            let opts = EventsOptions {
                filters: Some(filters),
                since: Some(since),
                ..Default::default()
            };
            docker
                .events(Some(opts))
                // An error ends the stream: the reconciler subscribes again and catches up.
                .take_while(|m| std::future::ready(m.is_ok()))
                .filter_map(move |m| {
                    std::future::ready(m.ok().and_then(|m| {
                        let actor = m.actor?;
                        let mut attributes = actor.attributes.unwrap_or_default();
                        if !attributes.contains_key(APP_LABEL) {
                            // An adopted container's events carry the labels its listing
                            // is given.
                            let name = attributes.get("name").cloned().unwrap_or_default();
                            let labels: BTreeMap<String, String> = attributes
                                .iter()
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect();
                            attributes.extend(adoptions.claim(&name, &labels)?);
                        }
                        let (action, id) = (m.action?, actor.id?);
                        let mut c = cursor.lock().unwrap_or_else(|p| p.into_inner());
                        let fresh =
                            c.get_or_insert_with(EventCursor::now)
                                .admit(m.time_nano, &id, &action);
                        drop(c);
                        if !fresh {
                            return None;
                        }
                        let bare_health = action == "health_status";
                        map_event(&action, id, attributes).map(|ev| (ev, bare_health))
                    }))
                })
                .boxed()
        };
        let inspector = self.clone();
        stream::once(connect)
            .flatten()
            .then(move |(mut ev, bare_health)| {
                let tap = tap.clone();
                let inspector = inspector.clone();
                async move {
                    // Podman's `health_status` carries the status in a field of its own,
                    // outside Docker's event schema (and so outside bollard's type): the
                    // container's inspect says it instead.
                    if bare_health {
                        if let Some(h) = inspector.health_of(&ev.id).await {
                            ev.kind = EngineEventKind::Health(h);
                        }
                    }
                    if let Some(tap) = tap {
                        // Never hold the reconciler up for the outbox: a full tap drops.
                        let _ = tap.try_send(ev.clone());
                    }
                    ev
                }
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue15_list_status_words_give_exit_code_and_health() {
        assert_eq!(
            exit_code_from_status("Exited (137) 2 seconds ago"),
            Some(137)
        );
        assert_eq!(exit_code_from_status("Up 3 seconds"), None);
        assert_eq!(
            health_from_status("Up 3 seconds (healthy)"),
            Some(Health::Healthy)
        );
        assert_eq!(
            health_from_status("Up 1 second (health: starting)"),
            Some(Health::Starting)
        );
        assert_eq!(health_from_status("Up 1 second"), None);
    }

    #[test]
    fn issue15_engine_events_map_to_the_reconcilers() {
        let attrs: HashMap<String, String> = [
            ("exitCode".to_owned(), "3".to_owned()),
            ("outpost.app".to_owned(), "a".to_owned()),
        ]
        .into();
        let ev = map_event("die", "x".into(), attrs).unwrap();
        assert_eq!(ev.kind, EngineEventKind::Die { exit_code: Some(3) });
        assert_eq!(ev.labels.get("outpost.app").map(String::as_str), Some("a"));
        let h = map_event("health_status: unhealthy", "x".into(), HashMap::new()).unwrap();
        assert_eq!(h.kind, EngineEventKind::Health(Health::Unhealthy));
        assert!(map_event("attach", "x".into(), HashMap::new()).is_none());
    }
}
