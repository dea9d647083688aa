//! The plan: what to do to bring the containers that exist to the declared apps.
//!
//! Pure: it takes the apps and a plain list of the containers the engine has, and returns
//! actions. Ownership is by label only: a container without both `outpost.app` and
//! `outpost.service` is in no action, whatever its name. Every declared service is wanted
//! running; the reconciler holds back the starts its backoff or the declared restart
//! policy forbid.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::run_spec::RunSpec;

use super::compose::AppSpec;
use super::convert::{to_run_spec, ConvertError, APP_LABEL, SERVICE_LABEL};
use super::hash::SPEC_HASH_LABEL;
use super::order;

/// A container as the engine lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActualContainer {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: ContainerState,
    pub exit_code: Option<i64>,
    /// The health check's verdict, when the container has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// Docker's `State.Health.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

impl ActualContainer {
    /// `(app, service)` when the container carries both ownership labels.
    pub fn owner(&self) -> Option<(&str, &str)> {
        Some((
            self.labels.get(APP_LABEL)?.as_str(),
            self.labels.get(SERVICE_LABEL)?.as_str(),
        ))
    }
}

/// The engine's container states (Docker's `State.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// No container for the service: create it and start it.
    Create {
        app: String,
        service: String,
        spec: RunSpec,
    },
    /// The container was made from another spec (or is dead): remove it, create and start.
    Recreate {
        app: String,
        service: String,
        id: String,
        spec: RunSpec,
    },
    /// The container is the declared one but not running: start it.
    Start {
        app: String,
        service: String,
        id: String,
    },
    /// Owned by Outpost but no longer declared (or a second container for one service):
    /// stop and remove it.
    Remove {
        app: String,
        service: String,
        id: String,
    },
}

impl Action {
    pub fn app(&self) -> &str {
        match self {
            Action::Create { app, .. }
            | Action::Recreate { app, .. }
            | Action::Start { app, .. }
            | Action::Remove { app, .. } => app,
        }
    }

    pub fn service(&self) -> &str {
        match self {
            Action::Create { service, .. }
            | Action::Recreate { service, .. }
            | Action::Start { service, .. }
            | Action::Remove { service, .. } => service,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("app `{0}` is declared twice")]
    DuplicateApp(String),
    #[error("app `{app}`: dependency cycle {}", .cycle.join(" -> "))]
    Cycle { app: String, cycle: Vec<String> },
    #[error(transparent)]
    Convert(#[from] ConvertError),
}

/// The actions, in the order to carry them out: first the removal of what is no longer
/// declared (by app, then by service, names sorted), then per app (sorted) its services
/// in `depends_on` order, each preceded by the removal of any surplus container it has.
pub fn plan<'a>(
    desired: impl IntoIterator<Item = &'a AppSpec>,
    actual: &[ActualContainer],
) -> Result<Vec<Action>, PlanError> {
    let mut apps: BTreeMap<&str, &AppSpec> = BTreeMap::new();
    for a in desired {
        if apps.insert(a.name.as_str(), a).is_some() {
            return Err(PlanError::DuplicateApp(a.name.clone()));
        }
    }
    // Owned containers by (app, service), in a stable order (by id).
    let mut owned: BTreeMap<(&str, &str), Vec<&ActualContainer>> = BTreeMap::new();
    for c in actual {
        if let Some(key) = c.owner() {
            owned.entry(key).or_default().push(c);
        }
    }
    for list in owned.values_mut() {
        list.sort_by(|a, b| a.id.cmp(&b.id));
    }

    let mut actions = Vec::new();
    let declared =
        |app: &str, svc: &str| apps.get(app).is_some_and(|a| a.services.contains_key(svc));
    for ((app, svc), list) in &owned {
        if !declared(app, svc) {
            for c in list {
                if c.state != ContainerState::Removing {
                    actions.push(remove(app, svc, c));
                }
            }
        }
    }

    for (name, app) in &apps {
        let order = order::start_order(app).map_err(|cycle| PlanError::Cycle {
            app: (*name).to_owned(),
            cycle,
        })?;
        for svc in order {
            let Some(spec) = app.services.get(&svc) else {
                continue;
            };
            let run = to_run_spec(name, &svc, spec)?;
            let list = owned
                .get(&(*name, svc.as_str()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            service_actions(name, &svc, run, list, &mut actions);
        }
    }
    Ok(actions)
}

fn remove(app: &str, service: &str, c: &ActualContainer) -> Action {
    Action::Remove {
        app: app.to_owned(),
        service: service.to_owned(),
        id: c.id.clone(),
    }
}

/// One declared service against the containers labelled as it.
fn service_actions(
    app: &str,
    svc: &str,
    run: RunSpec,
    list: &[&ActualContainer],
    actions: &mut Vec<Action>,
) {
    let live: Vec<&ActualContainer> = list
        .iter()
        .copied()
        .filter(|c| c.state != ContainerState::Removing)
        .collect();
    let want = run.labels.get(SPEC_HASH_LABEL);
    let current = |c: &&ActualContainer| c.labels.get(SPEC_HASH_LABEL) == want;
    // Keep the best one: the declared spec over another, then a running one, then the
    // smallest id; every other one is surplus.
    let keep = live
        .iter()
        .copied()
        .filter(|c| c.state != ContainerState::Dead)
        .min_by_key(|c| {
            (
                !current(c),
                c.state != ContainerState::Running,
                c.id.clone(),
            )
        })
        .or_else(|| live.first().copied());
    let keep_id: BTreeSet<&str> = keep.iter().map(|c| c.id.as_str()).collect();
    for c in &live {
        if !keep_id.contains(c.id.as_str()) {
            actions.push(remove(app, svc, c));
        }
    }
    let (app, service) = (app.to_owned(), svc.to_owned());
    match keep {
        None => actions.push(Action::Create {
            app,
            service,
            spec: run,
        }),
        Some(c) if !current(&c) || c.state == ContainerState::Dead => {
            actions.push(Action::Recreate {
                app,
                service,
                id: c.id.clone(),
                spec: run,
            })
        }
        Some(c) if matches!(c.state, ContainerState::Created | ContainerState::Exited) => actions
            .push(Action::Start {
                app,
                service,
                id: c.id.clone(),
            }),
        // Running, restarting (the engine is at it) or paused (someone paused it on
        // purpose): nothing to do.
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::compose::{DependsOn, ServiceSpec};

    fn app(name: &str, services: &[(&str, &[&str])]) -> AppSpec {
        AppSpec {
            name: name.into(),
            services: services
                .iter()
                .map(|(s, deps)| {
                    let mut spec = ServiceSpec::new("busybox:local");
                    for d in *deps {
                        spec.depends_on.insert((*d).into(), DependsOn::Started);
                    }
                    ((*s).to_owned(), spec)
                })
                .collect(),
        }
    }

    fn running(id: &str, spec: &RunSpec) -> ActualContainer {
        ActualContainer {
            id: id.into(),
            name: spec.name.clone().unwrap_or_default(),
            labels: spec.labels.clone(),
            state: ContainerState::Running,
            exit_code: None,
            health: None,
        }
    }

    #[test]
    fn missing_services_are_created_in_dependency_order() {
        let a = app("shop", &[("web", &["db"]), ("db", &[])]);
        let acts = plan([&a], &[]).unwrap();
        let got: Vec<_> = acts.iter().map(|a| a.service()).collect();
        assert_eq!(got, vec!["db", "web"]);
        assert!(acts.iter().all(|a| matches!(a, Action::Create { .. })));
    }

    #[test]
    fn changed_stopped_undeclared_and_unlabelled() {
        let a = app("shop", &[("web", &[]), ("db", &[])]);
        let web = to_run_spec("shop", "web", &a.services["web"]).unwrap();
        let mut old_db = to_run_spec("shop", "db", &a.services["db"]).unwrap();
        old_db.labels.insert(SPEC_HASH_LABEL.into(), "old".into());
        let mut stopped = running("w1", &web);
        stopped.state = ContainerState::Exited;
        let gone = {
            let mut c = running("g1", &web);
            c.labels.insert(SERVICE_LABEL.into(), "cache".into());
            c
        };
        let mut lookalike = running("u1", &web);
        lookalike.labels.clear();
        let actual = vec![stopped, running("d1", &old_db), gone, lookalike];
        let acts = plan([&a], &actual).unwrap();
        assert!(
            matches!(&acts[0], Action::Remove { id, service, .. } if id == "g1" && service == "cache")
        );
        assert!(matches!(&acts[1], Action::Recreate { id, .. } if id == "d1"));
        assert!(matches!(&acts[2], Action::Start { id, .. } if id == "w1"));
        assert_eq!(acts.len(), 3);
    }

    #[test]
    fn a_second_container_for_a_service_is_removed() {
        let a = app("shop", &[("web", &[])]);
        let web = to_run_spec("shop", "web", &a.services["web"]).unwrap();
        let mut b = running("b", &web);
        b.state = ContainerState::Exited;
        let acts = plan([&a], &[b, running("c", &web)]).unwrap();
        assert_eq!(acts.len(), 1);
        assert!(matches!(&acts[0], Action::Remove { id, .. } if id == "b"));
    }
}
