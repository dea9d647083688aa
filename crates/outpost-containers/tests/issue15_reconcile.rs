//! Issue 15: the reconciler's logic against an in-memory engine that keeps containers and
//! emits their events the way the Docker engine does (start; die on stop, kill or crash).
//! The real engine's suite drives the same loop through the binary's `AppEngine` (wired by
//! the lead); these pin the decisions: dependency order, the ownership rule, restarts by
//! policy with backoff, the crash-loop event, recreating only what changed, removal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use outpost_containers::apps::reconcile::{
    self, AppCommand, AppEngine, AppEvent, EngineEvent, EngineEventKind, ServiceStatus,
};
use outpost_containers::apps::{
    self, ActualContainer, AppSpec, BackoffConfig, ContainerState, APP_LABEL,
};
use outpost_containers::RunSpec;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::{timeout, Instant};

const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Default)]
struct FakeState {
    containers: BTreeMap<String, ActualContainer>,
    images: BTreeMap<String, String>,
    calls: Vec<String>,
    starts: Vec<(String, Instant)>,
    next: u32,
}

#[derive(Clone)]
struct Fake(Arc<Inner>);

struct Inner {
    state: Mutex<FakeState>,
    changed: Notify,
    tx: mpsc::UnboundedSender<EngineEvent>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<EngineEvent>>>,
}

impl Fake {
    fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Fake(Arc::new(Inner {
            state: Mutex::new(FakeState::default()),
            changed: Notify::new(),
            tx,
            rx: Mutex::new(Some(rx)),
        }))
    }

    fn with<R>(&self, f: impl FnOnce(&mut FakeState) -> R) -> R {
        let r = f(&mut self.0.state.lock().unwrap());
        self.0.changed.notify_waiters();
        r
    }

    fn emit(&self, c: &ActualContainer, kind: EngineEventKind) {
        let _ = self.0.tx.send(EngineEvent {
            id: c.id.clone(),
            labels: c.labels.clone(),
            kind,
        });
    }

    /// A container nobody manages (or half-labelled), as an operator made it.
    fn add_foreign(&self, name: &str, labels: &[(&str, &str)], state: ContainerState) -> String {
        self.with(|s| {
            s.next += 1;
            let id = format!("foreign{}", s.next);
            s.containers.insert(
                id.clone(),
                ActualContainer {
                    id: id.clone(),
                    name: name.into(),
                    labels: labels
                        .iter()
                        .map(|(k, v)| ((*k).into(), (*v).into()))
                        .collect(),
                    state,
                    exit_code: None,
                    health: None,
                },
            );
            id
        })
    }

    /// `docker kill`: the container dies with 137.
    fn kill(&self, id: &str) {
        let c = self.with(|s| {
            let c = s.containers.get_mut(id).unwrap();
            c.state = ContainerState::Exited;
            c.exit_code = Some(137);
            c.clone()
        });
        self.emit(
            &c,
            EngineEventKind::Die {
                exit_code: Some(137),
            },
        );
    }

    fn id_of(&self, app: &str, svc: &str) -> Option<String> {
        self.with(|s| {
            s.containers
                .values()
                .find(|c| c.owner() == Some((app, svc)))
                .map(|c| c.id.clone())
        })
    }

    fn get(&self, id: &str) -> Option<ActualContainer> {
        self.with(|s| s.containers.get(id).cloned())
    }

    async fn wait_for(&self, what: &str, mut cond: impl FnMut(&FakeState) -> bool) {
        let end = Instant::now() + DEADLINE;
        loop {
            let notified = self.0.changed.notified();
            if cond(&self.0.state.lock().unwrap()) {
                return;
            }
            if timeout(end.saturating_duration_since(Instant::now()), notified)
                .await
                .is_err()
            {
                let calls = self.with(|s| s.calls.clone());
                panic!("timed out waiting for {what}; calls: {calls:?}");
            }
        }
    }
}

impl AppEngine for Fake {
    type Error = String;

    async fn list_managed(&self) -> Result<Vec<ActualContainer>, String> {
        Ok(self.with(|s| {
            s.containers
                .values()
                .filter(|c| c.labels.contains_key(APP_LABEL))
                .cloned()
                .collect()
        }))
    }

    async fn create(&self, spec: &RunSpec) -> Result<String, String> {
        self.with(|s| {
            let name = spec.name.clone().unwrap_or_default();
            if s.containers.values().any(|c| c.name == name) {
                return Err(format!("Conflict: the name {name} is in use"));
            }
            s.next += 1;
            let id = format!("c{}", s.next);
            s.calls.push(format!("create {name} {id}"));
            s.images.insert(id.clone(), spec.image.clone());
            s.containers.insert(
                id.clone(),
                ActualContainer {
                    id: id.clone(),
                    name,
                    labels: spec.labels.clone(),
                    state: ContainerState::Created,
                    exit_code: None,
                    health: None,
                },
            );
            Ok(id)
        })
    }

    async fn start(&self, id: &str) -> Result<(), String> {
        let (c, crash) = self.with(|s| {
            s.calls.push(format!("start {id}"));
            s.starts.push((id.to_owned(), Instant::now()));
            let crash = s.images.get(id).is_some_and(|i| i.starts_with("crash"));
            let c = s.containers.get_mut(id).ok_or("no such container")?;
            c.state = ContainerState::Running;
            c.exit_code = None;
            let started = c.clone();
            if crash {
                c.state = ContainerState::Exited;
                c.exit_code = Some(1);
            }
            Ok::<_, String>((started, crash))
        })?;
        self.emit(&c, EngineEventKind::Start);
        if crash {
            self.emit(&c, EngineEventKind::Die { exit_code: Some(1) });
        }
        Ok(())
    }

    async fn stop(&self, id: &str) -> Result<(), String> {
        let c = self.with(|s| {
            s.calls.push(format!("stop {id}"));
            let c = s.containers.get_mut(id).ok_or("no such container")?;
            let was = c.state;
            c.state = ContainerState::Exited;
            c.exit_code = Some(0);
            Ok::<_, String>((was == ContainerState::Running).then(|| c.clone()))
        })?;
        if let Some(c) = c {
            self.emit(&c, EngineEventKind::Die { exit_code: Some(0) });
        }
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<(), String> {
        self.with(|s| {
            s.calls.push(format!("remove {id}"));
            s.containers
                .remove(id)
                .map(|_| ())
                .ok_or_else(|| "no such container".to_owned())
        })
    }

    fn events(&self) -> BoxStream<'static, EngineEvent> {
        match self.0.rx.lock().unwrap().take() {
            Some(rx) => futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|e| (e, rx))
            })
            .boxed(),
            None => futures_util::stream::pending().boxed(),
        }
    }
}

fn app(yaml: &str) -> AppSpec {
    apps::parse(yaml.as_bytes(), "app", std::path::Path::new("/")).unwrap()
}

fn fast() -> BackoffConfig {
    BackoffConfig {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        reset_after: Duration::from_secs(60),
        crash_loop_restarts: 3,
        crash_loop_window: Duration::from_secs(60),
        ..BackoffConfig::default()
    }
}

struct Running {
    fake: Fake,
    commands: mpsc::Sender<AppCommand>,
    events: mpsc::Receiver<AppEvent>,
}

fn start(fake: &Fake, apps: Vec<AppSpec>) -> Running {
    let (commands, crx) = mpsc::channel(16);
    let (etx, events) = mpsc::channel(64);
    tokio::spawn(reconcile::run(fake.clone(), apps, fast(), crx, etx));
    Running {
        fake: fake.clone(),
        commands,
        events,
    }
}

impl Running {
    async fn status(&self) -> Vec<ServiceStatus> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(AppCommand::Status(tx)).await.unwrap();
        rx.await.unwrap()
    }

    async fn all_running(&self, n: usize) {
        self.fake
            .wait_for(&format!("{n} managed containers running"), |s| {
                s.containers
                    .values()
                    .filter(|c| c.owner().is_some() && c.state == ContainerState::Running)
                    .count()
                    == n
            })
            .await;
    }
}

const SHOP: &str = "name: shop\nservices:\n  web:\n    image: web:1\n    restart: always\n    depends_on: [db]\n  db:\n    image: db:1\n    restart: always\n";

#[tokio::test]
async fn issue15_reconcile_creates_in_dependency_order_and_never_touches_the_unlabelled() {
    let fake = Fake::new();
    let lookalike = fake.add_foreign("outpost-shop.web", &[], ContainerState::Running);
    let half = fake.add_foreign(
        "outpost-shop.db-old",
        &[("outpost.app", "shop")],
        ContainerState::Exited,
    );
    let mut r = start(&fake, vec![app(SHOP)]);
    // db is created and started; web's name is taken by the look-alike: the create fails
    // and is reported, and the look-alike is left as it was.
    fake.wait_for("db running", |s| {
        s.containers
            .values()
            .any(|c| c.owner() == Some(("shop", "db")) && c.state == ContainerState::Running)
    })
    .await;
    let ev = timeout(DEADLINE, r.events.recv()).await.unwrap().unwrap();
    assert!(
        matches!(&ev, AppEvent::ActionFailed { service, action: "create", error, .. }
            if service == "web" && error.contains("Conflict")),
        "{ev:?}"
    );
    let calls = fake.with(|s| s.calls.clone());
    assert!(calls[0].starts_with("create outpost-shop.db "), "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| !c.contains(&lookalike) && !c.contains(&half)),
        "{calls:?}"
    );
    assert_eq!(fake.get(&lookalike).unwrap().state, ContainerState::Running);
    assert_eq!(fake.get(&half).unwrap().state, ContainerState::Exited);
    let st = r.status().await;
    let web = st.iter().find(|s| s.service == "web").unwrap();
    assert_eq!(web.actual, None);
    assert!(
        web.last_error.as_deref().unwrap_or("").contains("Conflict"),
        "{web:?}"
    );
}

#[tokio::test]
async fn issue15_reconcile_restarts_a_killed_container_after_its_backoff() {
    let fake = Fake::new();
    let r = start(&fake, vec![app(SHOP)]);
    r.all_running(2).await;
    let db = fake.id_of("shop", "db").unwrap();
    let killed = Instant::now();
    fake.kill(&db);
    fake.wait_for("db started again", |s| {
        s.starts.iter().filter(|(id, _)| *id == db).count() == 2
    })
    .await;
    let again = fake.with(|s| s.starts.iter().rev().find(|(id, _)| *id == db).unwrap().1);
    assert!(
        again.duration_since(killed) >= fast().initial,
        "restarted after {:?}, before the backoff",
        again.duration_since(killed)
    );
    // The same container, started again: nothing was recreated.
    assert_eq!(fake.id_of("shop", "db").unwrap(), db);
    let st = r.status().await;
    assert_eq!(st.iter().find(|s| s.service == "db").unwrap().restarts, 1);
}

#[tokio::test]
async fn issue15_reconcile_backs_off_a_crash_loop_and_reports_it() {
    let fake = Fake::new();
    let spec = app("name: flaky\nservices:\n  s:\n    image: crash:1\n    restart: always\n");
    let mut r = start(&fake, vec![spec]);
    let ev = timeout(DEADLINE, r.events.recv()).await.unwrap().unwrap();
    assert_eq!(
        ev,
        AppEvent::CrashLoop {
            app: "flaky".into(),
            service: "s".into(),
            restarts: 3,
            next_delay_ms: 200,
        }
    );
    fake.wait_for("four starts", |s| s.starts.len() >= 4).await;
    let starts: Vec<Instant> = fake.with(|s| s.starts.iter().map(|(_, t)| *t).collect());
    // Each wait at least the backoff's delay: 50, 100, 200 ms.
    for (i, want) in [50u64, 100, 200].iter().enumerate() {
        let gap = starts[i + 1].duration_since(starts[i]);
        assert!(gap >= Duration::from_millis(*want), "gap {i}: {gap:?}");
    }
    let st = r.status().await;
    assert!(st[0].crash_loop, "{st:?}");
    assert_eq!(st[0].last_error.as_deref(), Some("exited with code 1"));
}

/// A service's own backoff (a drop-in's, Reagent's n² growth) instead of the reconciler's.
#[tokio::test]
async fn issue19_reconcile_uses_a_services_own_square_backoff() {
    let fake = Fake::new();
    let spec = app("name: flaky\nservices:\n  s:\n    image: crash:1\n    restart: always\n    x-outpost-restart-backoff: {initial: 40ms, max: 1s, growth: square}\n");
    let mut r = start(&fake, vec![spec]);
    let ev = timeout(DEADLINE, r.events.recv()).await.unwrap().unwrap();
    assert_eq!(
        ev,
        AppEvent::CrashLoop {
            app: "flaky".into(),
            service: "s".into(),
            restarts: 3,
            next_delay_ms: 360,
        }
    );
    fake.wait_for("four starts", |s| s.starts.len() >= 4).await;
    let starts: Vec<Instant> = fake.with(|s| s.starts.iter().map(|(_, t)| *t).collect());
    // 40 ms × 1, 4, 9 (the reconciler's own would be 50, 100, 200).
    for (i, want) in [40u64, 160, 360].iter().enumerate() {
        let gap = starts[i + 1].duration_since(starts[i]);
        assert!(gap >= Duration::from_millis(*want), "gap {i}: {gap:?}");
    }
}

#[tokio::test]
async fn issue15_reconcile_recreates_only_the_changed_service() {
    let fake = Fake::new();
    let r = start(&fake, vec![app(SHOP)]);
    r.all_running(2).await;
    let (db, web) = (
        fake.id_of("shop", "db").unwrap(),
        fake.id_of("shop", "web").unwrap(),
    );
    let edited = SHOP.replace("image: web:1", "image: web:2");
    r.commands
        .send(AppCommand::Apply(app(&edited)))
        .await
        .unwrap();
    fake.wait_for("web recreated", |s| {
        s.containers.values().any(|c| {
            c.owner() == Some(("shop", "web")) && c.id != web && c.state == ContainerState::Running
        })
    })
    .await;
    assert_eq!(fake.id_of("shop", "db").unwrap(), db, "db was not touched");
    assert!(fake.get(&web).is_none(), "the old web container is gone");
    let calls = fake.with(|s| s.calls.clone());
    assert!(
        calls
            .iter()
            .all(|c| !c.contains(&db) || c.starts_with("create") || c == &format!("start {db}")),
        "{calls:?}"
    );
}

#[tokio::test]
async fn issue15_reconcile_removes_an_undeclared_app_and_only_it() {
    let fake = Fake::new();
    let other = app("name: other\nservices:\n  o:\n    image: o:1\n    restart: always\n");
    let r = start(&fake, vec![app(SHOP), other]);
    r.all_running(3).await;
    let o = fake.id_of("other", "o").unwrap();
    r.commands
        .send(AppCommand::Remove("shop".into()))
        .await
        .unwrap();
    fake.wait_for("shop's containers gone", |s| {
        !s.containers
            .values()
            .any(|c| c.owner().is_some_and(|(a, _)| a == "shop"))
    })
    .await;
    assert_eq!(fake.get(&o).unwrap().state, ContainerState::Running);
    // The removal's own deaths are no crash: nothing is restarted or reported.
    let st = r.status().await;
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].restarts, 0);
}

#[tokio::test]
async fn issue15_reconcile_leaves_an_exited_restart_no_service_exited() {
    let fake = Fake::new();
    let r = start(
        &fake,
        vec![app("name: once\nservices:\n  job:\n    image: j:1\n")],
    );
    r.all_running(1).await;
    let id = fake.id_of("once", "job").unwrap();
    fake.kill(&id);
    // The death is recorded (its exit code in the status), and no restart is scheduled.
    let end = Instant::now() + DEADLINE;
    loop {
        let st = r.status().await;
        if st[0].last_error.as_deref() == Some("exited with code 137") {
            assert_eq!(st[0].next_start_in_ms, None);
            assert_eq!(st[0].actual, Some(ContainerState::Exited));
            break;
        }
        assert!(Instant::now() < end, "the death was never recorded: {st:?}");
        tokio::task::yield_now().await;
    }
    assert_eq!(fake.with(|s| s.starts.len()), 1);
}

#[tokio::test]
async fn issue15_reconcile_converges_from_a_half_applied_state() {
    // As an agent stopped in the middle of an apply leaves it: db created but never
    // started, web still from the old spec, and a service since dropped from the app.
    let fake = Fake::new();
    let old = app(SHOP);
    let new = app(&SHOP.replace("image: web:1", "image: web:2"));
    let put = |spec: &RunSpec, state| {
        fake.with(|s| {
            s.next += 1;
            let id = format!("pre{}", s.next);
            s.containers.insert(
                id.clone(),
                ActualContainer {
                    id: id.clone(),
                    name: spec.name.clone().unwrap_or_default(),
                    labels: spec.labels.clone(),
                    state,
                    exit_code: None,
                    health: None,
                },
            );
            id
        })
    };
    let db = put(
        &apps::to_run_spec("shop", "db", &new.services["db"]).unwrap(),
        ContainerState::Created,
    );
    let web = put(
        &apps::to_run_spec("shop", "web", &old.services["web"]).unwrap(),
        ContainerState::Running,
    );
    let dropped = put(
        &apps::to_run_spec("shop", "cache", &old.services["db"]).unwrap(),
        ContainerState::Running,
    );
    let r = start(&fake, vec![new]);
    r.all_running(2).await;
    fake.wait_for("the dropped service removed", |s| {
        !s.containers.contains_key(&dropped)
    })
    .await;
    assert_eq!(
        fake.get(&db).unwrap().state,
        ContainerState::Running,
        "db started, not recreated"
    );
    assert!(fake.get(&web).is_none(), "web recreated from the new spec");
    let calls = fake.with(|s| s.calls.clone());
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("create")).count(),
        1,
        "{calls:?}"
    );
}

#[tokio::test]
async fn issue15_reconcile_waits_for_a_healthy_dependency() {
    let fake = Fake::new();
    let spec = app(
        "name: shop\nservices:\n  web:\n    image: web:1\n    restart: always\n    depends_on:\n      db: {condition: service_healthy}\n  db:\n    image: db:1\n    restart: always\n    healthcheck: {test: [CMD, ok]}\n",
    );
    let r = start(&fake, vec![spec]);
    r.all_running(1).await;
    // The pass that started db is over once a command is answered: web was not created.
    let st = r.status().await;
    assert_eq!(st.iter().find(|s| s.service == "web").unwrap().actual, None);
    let db = fake.get(&fake.id_of("shop", "db").unwrap()).unwrap();
    fake.emit(&db, EngineEventKind::Health(apps::Health::Healthy));
    r.all_running(2).await;
}
