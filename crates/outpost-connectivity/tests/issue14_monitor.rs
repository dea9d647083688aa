//! Issue 14: the connectivity monitor's ladder and guard rails, with scripted probes and
//! tokio's paused time (no network, no sleeps: time advances only when every task waits).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use outpost_connectivity::monitor::BoxFuture;
use outpost_connectivity::{
    ActionRecord, Clocks, Decision, Effects, Health, Monitor, Outcome, Probe, ProbeFuture,
    ProbeKind, RebootStamp, Settings, StateChange, Status, StepOutcome,
};
use tokio::time::Instant;

const RESOLVER: &str = "192.0.2.53";
const WEB: &str = "198.51.100.80";

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// What each probe answers now; the test flips it.
#[derive(Clone, Default)]
struct Script(Arc<Mutex<BTreeMap<ProbeKind, bool>>>);

impl Script {
    fn set(&self, kind: ProbeKind, up: bool) {
        self.0.lock().unwrap().insert(kind, up);
    }
    fn all(&self, up: bool) {
        for k in ProbeKind::ALL {
            self.set(k, up);
        }
    }
}

struct Scripted {
    kind: ProbeKind,
    script: Script,
    rounds: Arc<Mutex<u32>>,
}

impl Probe for Scripted {
    fn kind(&self) -> ProbeKind {
        self.kind
    }
    fn check(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            if self.kind == ProbeKind::Route {
                *self.rounds.lock().unwrap() += 1;
            }
            let up = self
                .script
                .0
                .lock()
                .unwrap()
                .get(&self.kind)
                .copied()
                .unwrap_or(true);
            let target = match self.kind {
                ProbeKind::Route => None,
                ProbeKind::Dns | ProbeKind::Tcp => Some(RESOLVER.to_owned()),
                ProbeKind::Http => Some(WEB.to_owned()),
            };
            if up {
                Outcome::up("ok", Duration::from_millis(3), target)
            } else {
                Outcome::down("timed out", None, target)
            }
        })
    }
}

/// Clocks that move with tokio's (paused) time, from a given wall time and uptime.
#[derive(Clone)]
struct TestClocks {
    t0: Instant,
    wall0: SystemTime,
    up0: Duration,
}

impl TestClocks {
    fn new(wall0_unix: u64, up0: Duration) -> Self {
        TestClocks {
            t0: Instant::now(),
            wall0: SystemTime::UNIX_EPOCH + s(wall0_unix),
            up0,
        }
    }
}

impl Clocks for TestClocks {
    fn wall(&self) -> SystemTime {
        self.wall0 + self.t0.elapsed()
    }
    fn uptime(&self) -> Option<Duration> {
        Some(self.up0 + self.t0.elapsed())
    }
}

#[derive(Debug, Clone)]
enum Seen {
    State(Health, Health),
    Ran(String),
    Action(ActionRecord),
}

/// Records every effect with its time (seconds since the test's start).
#[derive(Clone)]
struct Recorder {
    t0: Instant,
    seen: Arc<Mutex<Vec<(u64, Seen)>>>,
}

impl Recorder {
    fn new() -> Self {
        Recorder {
            t0: Instant::now(),
            seen: Arc::default(),
        }
    }
    fn push(&self, s: Seen) {
        let at = self.t0.elapsed().as_secs();
        self.seen.lock().unwrap().push((at, s));
    }
    fn actions(&self) -> Vec<(u64, ActionRecord)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(t, s)| match s {
                Seen::Action(a) => Some((*t, a.clone())),
                _ => None,
            })
            .collect()
    }
    fn runs(&self) -> Vec<(u64, String)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(t, s)| match s {
                Seen::Ran(a) => Some((*t, a.clone())),
                _ => None,
            })
            .collect()
    }
    fn states(&self) -> Vec<(u64, Health, Health)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(t, s)| match s {
                Seen::State(a, b) => Some((*t, *a, *b)),
                _ => None,
            })
            .collect()
    }
}

impl Effects for Recorder {
    fn state_changed<'a>(&'a self, c: &'a StateChange) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.push(Seen::State(c.from, c.to)) })
    }
    fn run_step<'a>(&'a self, step: &'a str) -> BoxFuture<'a, StepOutcome> {
        Box::pin(async move {
            self.push(Seen::Ran(step.to_owned()));
            StepOutcome {
                ok: true,
                detail: "exit 0".into(),
            }
        })
    }
    fn action<'a>(&'a self, r: &'a ActionRecord) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.push(Seen::Action(r.clone())) })
    }
}

fn settings() -> Settings {
    let mut st = Settings::default();
    st.recovery.steps = vec!["hook".into(), "restart_network".into(), "reboot".into()];
    st
}

struct Rig {
    script: Script,
    rec: Recorder,
    status: Arc<Mutex<Status>>,
    rounds: Arc<Mutex<u32>>,
    urgent: Arc<tokio::sync::Notify>,
    stop: tokio_util_free::Stop,
    task: tokio::task::JoinHandle<()>,
}

/// A oneshot-based stop without another dependency.
mod tokio_util_free {
    pub struct Stop(pub Option<tokio::sync::oneshot::Sender<()>>);
    impl Stop {
        pub fn fire(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }
}

fn start(st: Settings, kinds: &[ProbeKind], stamp: &Path, clocks: TestClocks) -> Rig {
    let script = Script::default();
    script.all(true);
    let rec = Recorder::new();
    let rounds = Arc::new(Mutex::new(0));
    let stamp = RebootStamp::load(stamp, clocks.wall());
    let m = Monitor::new(st, kinds, stamp, clocks);
    let status = m.status();
    let urgent = m.urgent();
    let probes: Vec<Box<dyn Probe>> = kinds
        .iter()
        .map(|k| {
            Box::new(Scripted {
                kind: *k,
                script: script.clone(),
                rounds: rounds.clone(),
            }) as Box<dyn Probe>
        })
        .collect();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let effects = rec.clone();
    let task = tokio::spawn(async move {
        m.run(probes, &effects, async {
            let _ = rx.await;
        })
        .await
    });
    Rig {
        script,
        rec,
        status,
        rounds,
        urgent,
        stop: tokio_util_free::Stop(Some(tx)),
        task,
    }
}

impl Rig {
    async fn stop(mut self) -> Recorder {
        self.stop.fire();
        self.task.await.unwrap();
        self.rec
    }
    fn status(&self) -> Status {
        self.status.lock().unwrap().clone()
    }
}

/// Uptime well past the boot grace, wall time well past any stamp.
fn settled_clocks() -> TestClocks {
    TestClocks::new(1_800_000_000, s(86_400))
}

/// Sleeps until `t` seconds after the rig started (paused time: instant).
async fn until(t0: Instant, t: u64) {
    tokio::time::sleep_until(t0 + s(t)).await;
}

#[tokio::test(start_paused = true)]
async fn issue14_ladder_runs_its_steps_in_order_with_doubling_delays_and_resets_when_online() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let mut st = settings();
    st.recovery.min_reboot_interval = s(3600);
    let rig = start(
        st,
        &ProbeKind::ALL,
        &dir.path().join("stamp"),
        settled_clocks(),
    );
    until(t0, 10).await;
    assert_eq!(rig.status().state, Health::Online);
    assert_eq!(rig.status().score, 100);
    rig.script.all(false);
    // Rounds at 0 and 30 (online); 30 sees the first failure, 35 confirms it (fall = 2).
    until(t0, 36).await;
    assert_eq!(rig.status().state, Health::Offline);
    assert!(rig.rec.runs().is_empty(), "nothing before the first delay");
    let st = rig.status();
    assert_eq!(st.ladder.next_step.as_deref(), Some("hook"));
    assert!(st.ladder.next_action_at_ms.is_some());
    until(t0, 200).await;
    // First step 5 s after the outage settled, then waits of 10, 20, 40, 80 s. The reboot
    // ran once; the next reboot falls within min_reboot_interval and is skipped.
    assert_eq!(
        rig.rec.runs(),
        [
            (40, "hook".into()),
            (50, "restart_network".into()),
            (70, "reboot".into())
        ]
    );
    let acts = rig.rec.actions();
    let (t, skipped) = &acts[3];
    assert_eq!(*t, 110);
    assert_eq!(skipped.decision, Decision::Skipped);
    assert_eq!(
        skipped.reason.as_ref().unwrap().code(),
        "min_reboot_interval"
    );
    assert_eq!(acts[4].0, 190);
    // Online again: the ladder starts over at its first step and first delay.
    rig.script.all(true);
    until(t0, 300).await;
    assert_eq!(rig.status().state, Health::Online);
    let online_at = rig.rec.states().last().map(|(t, _, to)| (*t, *to)).unwrap();
    assert_eq!(online_at.1, Health::Online);
    rig.script.all(false);
    until(t0, 600).await;
    let runs = rig.rec.runs();
    let again: Vec<_> = runs.iter().filter(|(t, _)| *t > online_at.0).collect();
    assert_eq!(again[0].1, "hook", "{runs:?}");
    assert_eq!(again[1].1, "restart_network", "{runs:?}");
    assert_eq!(again[1].0 - again[0].0, 10, "{runs:?}");
    let rec = rig.stop().await;
    // Every decision is reported, and the states went online, offline, online, offline.
    let states: Vec<_> = rec.states().iter().map(|(_, _, to)| *to).collect();
    assert_eq!(
        states,
        [
            Health::Online,
            Health::Offline,
            Health::Online,
            Health::Offline
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn issue14_one_lost_probe_changes_nothing_and_idle_is_one_round_per_period() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let rig = start(
        settings(),
        &ProbeKind::ALL,
        &dir.path().join("stamp"),
        settled_clocks(),
    );
    until(t0, 1).await;
    rig.script.set(ProbeKind::Http, false);
    until(t0, 31).await; // round at 30 sees it
    rig.script.set(ProbeKind::Http, true);
    until(t0, 36).await; // settling round at 35 clears it
    assert_eq!(*rig.rounds.lock().unwrap(), 3);
    until(t0, 36 + 600).await;
    // Online and settled: one round per 30 s period and nothing else.
    assert_eq!(*rig.rounds.lock().unwrap(), 3 + 20);
    let rec = rig.stop().await;
    assert_eq!(rec.states().len(), 1, "only unknown -> online");
    assert!(rec.actions().is_empty());
}

#[tokio::test(start_paused = true)]
async fn issue14_guard_min_reboot_interval_holds_across_restarts_via_the_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("reboot.stamp");
    let mut st = settings();
    st.recovery.steps = vec!["reboot".into()];
    // First life: offline, reboots at 40 s; the stamp is written before the command ran.
    let t0 = Instant::now();
    let rig = start(st.clone(), &ProbeKind::ALL, &stamp, settled_clocks());
    rig.script.all(false);
    until(t0, 41).await;
    assert_eq!(rig.rec.runs(), [(10, "reboot".into())]);
    let written: u64 = std::fs::read_to_string(&stamp)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(written, 1_800_000_010);
    drop(rig.stop().await);

    // Second life, "after the reboot": 10 minutes later by the wall clock, freshly booted
    // past the grace. Offline again: the reboot is skipped until an hour has passed.
    let t1 = Instant::now();
    let clocks = TestClocks::new(1_800_000_010 + 600, s(400));
    let rig = start(st, &ProbeKind::ALL, &stamp, clocks);
    rig.script.all(false);
    until(t1, 3000).await;
    assert!(rig.rec.runs().is_empty(), "{:?}", rig.rec.runs());
    let acts = rig.rec.actions();
    assert!(!acts.is_empty());
    for (_, a) in &acts {
        assert_eq!(a.decision, Decision::Skipped);
        assert_eq!(a.reason.as_ref().unwrap().code(), "min_reboot_interval");
    }
    let g = rig.status().guards;
    assert_eq!(g.last_reboot_unix, Some(1_800_000_010));
    assert_eq!(g.reboot_allowed_from_unix, Some(1_800_003_610));
    // Past the hour (3000 s after the restart, plus the 600 s before it) it runs.
    until(t1, 4000).await;
    let runs = rig.rec.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].0 >= 3000, "{runs:?}");
    drop(rig.stop().await);
}

#[tokio::test(start_paused = true)]
async fn issue14_guard_corrupt_or_future_stamp_counts_as_a_reboot_at_start() {
    for content in ["not a time\n", "4000000000\n"] {
        let dir = tempfile::tempdir().unwrap();
        let stamp = dir.path().join("reboot.stamp");
        std::fs::write(&stamp, content).unwrap();
        let mut st = settings();
        st.recovery.steps = vec!["reboot".into()];
        let t0 = Instant::now();
        let rig = start(st, &ProbeKind::ALL, &stamp, settled_clocks());
        rig.script.all(false);
        until(t0, 1800).await;
        assert!(rig.rec.runs().is_empty(), "{content:?}");
        assert!(rig.status().guards.stamp_note.is_some());
        assert!(rig
            .rec
            .actions()
            .iter()
            .all(|(_, a)| a.reason.as_ref().unwrap().code() == "min_reboot_interval"));
        // The stamp was rewritten as the start time: an hour after it, the reboot runs.
        assert_eq!(
            std::fs::read_to_string(&stamp).unwrap(),
            "1800000000\n",
            "{content:?}"
        );
        until(t0, 3600 + 700).await;
        assert_eq!(rig.rec.runs().len(), 1, "{content:?}");
        drop(rig.stop().await);
    }
}

#[tokio::test(start_paused = true)]
async fn issue14_guard_boot_grace_holds_steps_back_after_boot() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let mut st = settings();
    st.recovery.boot_grace = s(300);
    // Booted 20 s ago.
    let rig = start(
        st,
        &ProbeKind::ALL,
        &dir.path().join("s"),
        TestClocks::new(1_800_000_000, s(20)),
    );
    rig.script.all(false);
    until(t0, 280).await;
    assert!(rig.rec.runs().is_empty());
    let acts = rig.rec.actions();
    assert!(!acts.is_empty());
    assert!(acts.iter().all(|(_, a)| a.decision == Decision::Skipped
        && a.reason.as_ref().unwrap().code() == "boot_grace"
        && a.step == "hook"));
    assert!(rig.status().guards.in_boot_grace);
    until(t0, 900).await;
    let runs = rig.rec.runs();
    assert_eq!(runs[0].1, "hook");
    assert!(runs[0].0 + 20 >= 300, "{runs:?}");
    drop(rig.stop().await);
}

#[tokio::test(start_paused = true)]
async fn issue14_guard_needs_two_independent_targets_failing() {
    let dir = tempfile::tempdir().unwrap();
    // DNS and TCP share the resolver; HTTP is another host and stays up: degraded, the
    // ladder never arms.
    let t0 = Instant::now();
    let rig = start(
        settings(),
        &ProbeKind::ALL,
        &dir.path().join("s"),
        settled_clocks(),
    );
    rig.script.set(ProbeKind::Dns, false);
    rig.script.set(ProbeKind::Tcp, false);
    until(t0, 600).await;
    assert_eq!(rig.status().state, Health::Degraded);
    assert_eq!(rig.status().failing_targets, [RESOLVER]);
    // The route alone gone: degraded too.
    rig.script.all(true);
    rig.script.set(ProbeKind::Route, false);
    until(t0, 1200).await;
    assert_eq!(rig.status().state, Health::Degraded);
    let rec = rig.stop().await;
    assert!(rec.actions().is_empty());

    // Without the HTTP probe, every remote probe down is offline, but it is one target:
    // each due step is skipped, none runs.
    let t1 = Instant::now();
    let kinds = [ProbeKind::Route, ProbeKind::Dns, ProbeKind::Tcp];
    let rig = start(settings(), &kinds, &dir.path().join("s2"), settled_clocks());
    rig.script.all(false);
    until(t1, 1200).await;
    assert_eq!(rig.status().state, Health::Offline);
    let rec = rig.stop().await;
    assert!(rec.runs().is_empty());
    let acts = rec.actions();
    assert!(acts.len() >= 3);
    for (_, a) in &acts {
        assert_eq!(a.decision, Decision::Skipped);
        assert_eq!(a.step, "hook", "held on the first step");
        assert_eq!(a.reason.as_ref().unwrap().code(), "too_few_targets");
    }
}

#[tokio::test(start_paused = true)]
async fn issue14_guard_dry_run_reports_what_it_would_do_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("s");
    let t0 = Instant::now();
    let mut st = settings();
    st.recovery.dry_run = true;
    let rig = start(st, &ProbeKind::ALL, &stamp, settled_clocks());
    rig.script.all(false);
    until(t0, 100).await;
    let st = rig.status();
    let rec = rig.stop().await;
    assert!(rec.runs().is_empty());
    let acts = rec.actions();
    let steps: Vec<_> = acts
        .iter()
        .map(|(t, a)| (*t, a.step.as_str(), a.decision))
        .collect();
    assert_eq!(
        steps,
        [
            (10, "hook", Decision::WouldRun),
            (20, "restart_network", Decision::WouldRun),
            (40, "reboot", Decision::WouldRun),
            (80, "reboot", Decision::WouldRun),
        ]
    );
    assert!(!stamp.exists(), "a dry run stamps no reboot");
    assert_eq!(st.actions.get("would_run:dry_run"), Some(&4));
}

#[tokio::test(start_paused = true)]
async fn issue14_guard_a_reboot_whose_stamp_cannot_be_read_or_written_does_not_run() {
    let mut st = settings();
    st.recovery.steps = vec!["hook".into(), "reboot".into()];

    // Unreadable at start (its directory is a regular file): taken as a reboot just now.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let t0 = Instant::now();
    let rig = start(
        st.clone(),
        &ProbeKind::ALL,
        &file.join("reboot.stamp"),
        settled_clocks(),
    );
    rig.script.all(false);
    until(t0, 100).await;
    assert!(rig
        .status()
        .guards
        .stamp_note
        .unwrap()
        .contains("unreadable"));
    let rec = rig.stop().await;
    assert_eq!(rec.runs(), [(10, "hook".to_owned())]);
    assert!(rec.actions()[1..]
        .iter()
        .all(|(_, a)| a.reason.as_ref().unwrap().code() == "min_reboot_interval"));

    // Missing at start, unwritable when the reboot is due: the reboot does not run (the
    // next boot could not know it happened).
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    let t1 = Instant::now();
    let rig = start(
        st,
        &ProbeKind::ALL,
        &sub.join("reboot.stamp"),
        settled_clocks(),
    );
    std::fs::write(&sub, "").unwrap();
    rig.script.all(false);
    until(t1, 100).await;
    let rec = rig.stop().await;
    assert_eq!(
        rec.runs(),
        [(10, "hook".to_owned())],
        "the hook runs, the reboot never"
    );
    let acts = rec.actions();
    assert!(acts.len() >= 2);
    for (_, a) in &acts[1..] {
        assert_eq!(a.step, "reboot");
        assert_eq!(a.decision, Decision::Skipped);
        assert_eq!(a.reason.as_ref().unwrap().code(), "stamp_unwritable");
    }
}

fn socketman_settings() -> Settings {
    let mut st = Settings::default();
    st.recovery.steps = vec!["restart_network".into(), "reboot".into()];
    st.recovery.reboot_after_offline = Some(s(300));
    st
}

/// When each state change to `to` happened.
fn changes_to(rec: &Recorder, to: Health) -> Vec<u64> {
    rec.states()
        .iter()
        .filter(|(_, _, t)| *t == to)
        .map(|(at, _, _)| *at)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn issue18_reboot_waits_for_the_offline_time_and_the_timer_resets_when_the_link_returns() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let rig = start(
        socketman_settings(),
        &ProbeKind::ALL,
        &dir.path().join("stamp"),
        settled_clocks(),
    );
    rig.script.all(false);
    // Offline settles at 5 s; the network restart 5 s later; no reboot within 300 s.
    until(t0, 200).await;
    assert_eq!(rig.rec.runs(), [(10, "restart_network".into())]);
    // The link returns before the 300 s are up, then goes again.
    rig.script.all(true);
    until(t0, 260).await;
    assert_eq!(rig.status().state, Health::Online);
    rig.script.all(false);
    until(t0, 1000).await;
    let rec = rig.stop().await;
    let offline = changes_to(&rec, Health::Offline);
    assert_eq!(offline.len(), 2, "{:?}", rec.states());
    let runs = rec.runs();
    // The first outage never reached its reboot; the second reboots 300 s after it began,
    // not on its first failed check (SocketMan's timer, never reset, would have).
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert_eq!(
        runs[1],
        (offline[1] + 5, "restart_network".into()),
        "{runs:?}"
    );
    assert_eq!(runs[2], (offline[1] + 300, "reboot".into()), "{runs:?}");
}

#[tokio::test(start_paused = true)]
async fn issue18_an_urgent_notice_probes_at_once_and_takes_the_first_step_without_its_wait() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let rig = start(
        socketman_settings(),
        &ProbeKind::ALL,
        &dir.path().join("stamp"),
        settled_clocks(),
    );
    until(t0, 40).await;
    assert_eq!(rig.status().state, Health::Online);
    let rounds = *rig.rounds.lock().unwrap();
    // Nothing cut: an urgent notice costs back-to-back rounds until settled, then idles.
    rig.urgent.notify_one();
    until(t0, 41).await;
    assert_eq!(*rig.rounds.lock().unwrap(), rounds + 1);
    assert!(rig.rec.runs().is_empty());
    // Cut (a job removed the route): the restart runs at once, not 30 + 5 + 5 s later.
    until(t0, 45).await;
    rig.script.all(false);
    rig.urgent.notify_one();
    until(t0, 46).await;
    assert_eq!(rig.status().state, Health::Offline);
    assert_eq!(rig.rec.runs(), [(45, "restart_network".into())]);
    // The reboot still waits its offline time.
    until(t0, 344).await;
    assert_eq!(rig.rec.runs().len(), 1);
    until(t0, 346).await;
    assert_eq!(rig.rec.runs()[1], (345, "reboot".into()));
    drop(rig.stop().await);
}
