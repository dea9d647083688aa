//! The schedule engine alone: cron and intervals under tokio's paused time, the missed-run
//! and overlap policies, jitter, and the spec decoder (a proptest round trip).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{TimeZone, Utc};
use outpost_schedule::{
    Action, Cadence, Clock, DecodeError, JobTemplate, Missed, Overlap, Plan, ScheduleSpec, Sink,
    SkipReason, Timeline, Timer, When,
};
use proptest::prelude::*;

/// Wall time that follows tokio's (paused) clock from `base`.
#[derive(Clone)]
struct PausedClock {
    base: i64,
    start: tokio::time::Instant,
}

impl PausedClock {
    fn at(base: i64) -> Self {
        PausedClock {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for PausedClock {
    fn now_ms(&self) -> i64 {
        self.base + self.start.elapsed().as_millis() as i64
    }
}

/// Records what fired, and when (by the paused clock).
#[derive(Clone)]
struct Recorder {
    clock: PausedClock,
    fired: Arc<Mutex<Vec<(String, i64, i64)>>>,
}

impl Sink for Recorder {
    fn fire(&self, actions: Vec<Action>) {
        let now = self.clock.now_ms();
        let mut f = self.fired.lock().unwrap();
        for a in actions {
            if let Action::Run { id, due, .. } = a {
                f.push((id.to_string(), due, now));
            }
        }
    }
}

fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .timestamp_millis()
}

fn plan(when: When, anchor: i64, now: i64, overlap: Overlap, missed: Missed) -> Plan {
    Plan {
        cadence: Cadence::compile(&when, anchor, now).unwrap(),
        missed,
        overlap,
        jitter_ms: 0,
    }
}

fn cron(expr: &str, tz: Option<&str>) -> When {
    When::Cron {
        expr: expr.into(),
        tz: tz.map(Into::into),
    }
}

/// Runs the timer over `span` of paused time and returns what fired.
async fn run_for(timer: &Timer, base: i64, span: Duration) -> Vec<(String, i64, i64)> {
    let clock = PausedClock::at(base);
    let rec = Recorder {
        clock: clock.clone(),
        fired: Arc::default(),
    };
    timer
        .run(clock, rec.clone(), tokio::time::sleep(span))
        .await;
    let out = rec.fired.lock().unwrap().clone();
    out
}

#[tokio::test(start_paused = true)]
async fn issue13_schedules_cron_with_seconds_fires_at_each_due_time_under_paused_time() {
    let base = ms(2026, 11, 26, 8, 0, 3) + 250;
    let timer = Timer::new();
    timer.update(|t| {
        t.insert(
            "s15".into(),
            plan(
                cron("*/15 * * * * *", None),
                base,
                base,
                Overlap::Allow,
                Missed::Skip,
            ),
            None,
            base,
        )
    });
    let fired = run_for(&timer, base, Duration::from_secs(61)).await;
    let dues: Vec<i64> = fired.iter().map(|f| f.1).collect();
    let start = ms(2026, 11, 26, 8, 0, 0);
    assert_eq!(
        dues,
        (1..=4).map(|k| start + k * 15_000).collect::<Vec<_>>(),
        "{fired:?}"
    );
    // Each fired on its due time, not late (paused time advances exactly to the timer).
    for (_, due, at) in &fired {
        assert!((0..=1).contains(&(at - due)), "due {due} fired at {at}");
    }
}

/// A timer with a lead hands each due time over that far ahead of it, and every run says
/// when it is meant to start (`at`), so the sink can accept ahead and start on time.
#[tokio::test(start_paused = true)]
async fn issue13_schedules_a_timer_with_a_lead_hands_runs_over_ahead_with_their_start_time() {
    let base = ms(2026, 11, 26, 8, 0, 3) + 250;
    let timer = Timer::with_lead(Duration::from_millis(250));
    timer.update(|t| {
        t.insert(
            "s15".into(),
            plan(
                cron("*/15 * * * * *", None),
                base,
                base,
                Overlap::Allow,
                Missed::Skip,
            ),
            None,
            base,
        )
    });
    let clock = PausedClock::at(base);
    let seen: Arc<Mutex<Vec<(i64, i64, i64)>>> = Arc::default();
    struct Ahead(PausedClock, Arc<Mutex<Vec<(i64, i64, i64)>>>);
    impl Sink for Ahead {
        fn fire(&self, actions: Vec<Action>) {
            let now = self.0.now_ms();
            for a in actions {
                if let Action::Run { due, at, .. } = a {
                    self.1.lock().unwrap().push((due, at, now));
                }
            }
        }
    }
    timer
        .run(
            clock.clone(),
            Ahead(clock, seen.clone()),
            tokio::time::sleep(Duration::from_secs(61)),
        )
        .await;
    let seen = seen.lock().unwrap().clone();
    let start = ms(2026, 11, 26, 8, 0, 0);
    assert_eq!(
        seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        (1..=4).map(|k| start + k * 15_000).collect::<Vec<_>>(),
        "{seen:?}"
    );
    for (due, at, handed) in &seen {
        assert_eq!(at, due, "no jitter: starts at its due time");
        assert!(
            (249..=251).contains(&(at - handed)),
            "due {due} handed over at {handed}, not 250 ms ahead"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn issue13_schedules_five_field_cron_in_a_time_zone_fires_on_local_minutes() {
    // 08:59:30 UTC; Asia/Kolkata is UTC+5:30, so local minute 30 is UTC minute 00.
    let base = ms(2026, 11, 26, 8, 59, 30);
    let timer = Timer::new();
    timer.update(|t| {
        t.insert(
            "kolkata".into(),
            plan(
                cron("30 * * * *", Some("Asia/Kolkata")),
                base,
                base,
                Overlap::Allow,
                Missed::Skip,
            ),
            None,
            base,
        )
    });
    let fired = run_for(&timer, base, Duration::from_secs(2 * 3600)).await;
    let dues: Vec<i64> = fired.iter().map(|f| f.1).collect();
    assert_eq!(
        dues,
        vec![ms(2026, 11, 26, 9, 0, 0), ms(2026, 11, 26, 10, 0, 0)],
        "{fired:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn issue13_schedules_intervals_fire_every_period_from_their_anchor() {
    let base = ms(2026, 11, 26, 8, 0, 0) + 123;
    let timer = Timer::new();
    timer.update(|t| {
        t.insert(
            "every7s".into(),
            plan(
                When::Every { ms: 7_000 },
                base,
                base,
                Overlap::Allow,
                Missed::Skip,
            ),
            None,
            base,
        );
        t.insert(
            "every30s".into(),
            plan(
                When::Every { ms: 30_000 },
                base - 10_000,
                base,
                Overlap::Allow,
                Missed::Skip,
            ),
            None,
            base,
        )
    });
    let fired = run_for(&timer, base, Duration::from_millis(60_500)).await;
    let of = |id: &str| -> Vec<i64> {
        fired
            .iter()
            .filter(|f| f.0 == id)
            .map(|f| f.1 - base)
            .collect()
    };
    assert_eq!(
        of("every7s"),
        (1..=8).map(|k| k * 7_000).collect::<Vec<_>>()
    );
    assert_eq!(of("every30s"), vec![20_000, 50_000]);
    for (_, due, at) in &fired {
        assert!((0..=1).contains(&(at - due)), "due {due} fired at {at}");
    }
}

#[tokio::test(start_paused = true)]
async fn issue13_schedules_a_new_schedule_re_arms_the_sleeping_timer() {
    let base = ms(2026, 11, 26, 8, 0, 0);
    let timer = Timer::new();
    timer.update(|t| {
        t.insert(
            "hourly".into(),
            plan(
                When::Every { ms: 3_600_000 },
                base,
                base,
                Overlap::Allow,
                Missed::Skip,
            ),
            None,
            base,
        )
    });
    let clock = PausedClock::at(base);
    let rec = Recorder {
        clock: clock.clone(),
        fired: Arc::default(),
    };
    let t2 = timer.clone();
    let task = tokio::spawn({
        let rec = rec.clone();
        async move {
            t2.run(clock, rec, tokio::time::sleep(Duration::from_secs(30)))
                .await
        }
    });
    // The timer sleeps toward the hour; a schedule due in 5 s must wake it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let now = base + 1_000;
    timer.update(|t| {
        t.insert(
            "soon".into(),
            plan(
                When::Every { ms: 5_000 },
                now,
                now,
                Overlap::Allow,
                Missed::Skip,
            ),
            None,
            now,
        )
    });
    task.await.unwrap();
    let fired = rec.fired.lock().unwrap().clone();
    let soon: Vec<i64> = fired
        .iter()
        .filter(|f| f.0 == "soon")
        .map(|f| f.2 - now)
        .collect();
    assert_eq!(
        soon,
        vec![5_000, 10_000, 15_000, 20_000, 25_000],
        "{fired:?}"
    );
}

#[test]
fn issue13_schedules_cron_due_times_follow_the_zone_across_a_dst_change() {
    // 02:30 local in Europe/Oslo does not exist on 2026-03-29 (clocks jump 02:00 -> 03:00).
    let c = Cadence::compile(&cron("30 2 * * *", Some("Europe/Oslo")), 0, 0).unwrap();
    let d1 = c.next_after(ms(2026, 3, 27, 12, 0, 0)).unwrap();
    assert_eq!(d1, ms(2026, 3, 28, 1, 30, 0)); // CET: UTC+1
    let d2 = c.next_after(d1).unwrap();
    // The gap day runs once, at the first valid local time (03:00 CEST = 01:00 UTC).
    assert_eq!(d2, ms(2026, 3, 29, 1, 0, 0));
    let d3 = c.next_after(d2).unwrap();
    assert_eq!(d3, ms(2026, 3, 30, 0, 30, 0)); // CEST: UTC+2
}

#[test]
fn issue13_schedules_bad_when_values_name_their_field() {
    let e = |when: When| Cadence::compile(&when, 0, 0).unwrap_err().field;
    assert_eq!(e(cron("61 * * * *", None)), "cron");
    assert_eq!(e(cron("not cron", None)), "cron");
    assert_eq!(e(cron("", None)), "cron");
    assert_eq!(e(cron("0 0 31 2 *", None)), "cron"); // never due
    assert_eq!(e(cron("* * * * *", Some("Mars/Olympus"))), "tz");
    assert_eq!(e(When::Every { ms: 10 }), "every_ms");
}

#[test]
fn issue13_schedules_missed_runs_are_skipped_or_run_once() {
    let t0 = ms(2026, 11, 26, 8, 0, 0);
    let now = t0 + 5 * 60_000 + 500;
    for (missed, expect_run) in [(Missed::Skip, false), (Missed::RunOnce, true)] {
        let mut t = Timeline::new();
        let p = plan(When::Every { ms: 60_000 }, t0, now, Overlap::Skip, missed);
        let action = t.insert("m".into(), p, Some(t0), now);
        match (expect_run, action) {
            (false, None) => {}
            (true, Some(Action::Run { due, through, .. })) => {
                assert_eq!(due, t0 + 60_000, "the first missed due time");
                assert_eq!(
                    through, now,
                    "every missed due time is handled by the one run"
                );
            }
            (_, other) => panic!("{missed:?}: {other:?}"),
        }
        assert_eq!(t.next_fire(), Some(t0 + 6 * 60_000), "{missed:?}");
        // Nothing else fires before the next due time.
        assert!(t.fire(now).is_empty());
    }
    // Nothing was missed: no run, whatever the policy.
    let mut t = Timeline::new();
    let p = plan(
        When::Every { ms: 60_000 },
        t0,
        t0 + 30_000,
        Overlap::Skip,
        Missed::RunOnce,
    );
    assert_eq!(t.insert("m".into(), p, Some(t0), t0 + 30_000), None);
}

/// The timer hands due runs on before it computes their next due times (a large firing
/// reschedules a slice at a time): the inventory's `next_due` is known all along.
#[test]
fn issue13_next_due_is_known_while_a_taken_run_awaits_rescheduling() {
    let t0 = ms(2026, 11, 26, 8, 0, 0);
    for (when, first, second) in [
        (When::Every { ms: 1_000 }, t0 + 1_000, t0 + 2_000),
        (cron("*/5 * * * * *", None), t0 + 5_000, t0 + 10_000),
    ] {
        let mut t = Timeline::new();
        t.insert(
            "s".into(),
            plan(when, t0, t0, Overlap::Allow, Missed::Skip),
            None,
            t0,
        );
        assert_eq!(t.next_due("s"), Some(first));
        assert!(matches!(t.take_due(first)[..], [Action::Run { due, .. }] if due == first));
        // Handed on, not yet rescheduled: the next due time is already known.
        assert_eq!(t.next_due("s"), Some(second));
        t.reschedule(first);
        assert_eq!(t.next_due("s"), Some(second));
        // Paused: none, taken or not.
        t.take_due(second);
        t.pause();
        assert_eq!(t.next_due("s"), None);
    }
}

#[test]
fn issue13_schedules_overlap_policies_with_a_slow_job() {
    let t0 = ms(2026, 11, 26, 8, 0, 0);
    let every = When::Every { ms: 1_000 };
    let run = |t: &mut Timeline, at: i64| t.fire(at);
    // Skip: the second due time while the first job runs is skipped.
    let mut t = Timeline::new();
    t.insert(
        "s".into(),
        plan(every.clone(), t0, t0, Overlap::Skip, Missed::Skip),
        None,
        t0,
    );
    assert!(matches!(run(&mut t, t0 + 1_000)[..], [Action::Run { due, .. }] if due == t0 + 1_000));
    assert!(matches!(
        run(&mut t, t0 + 2_000)[..],
        [Action::Skip { why: SkipReason::Overlap, due, .. }] if due == t0 + 2_000
    ));
    assert_eq!(t.finished("s"), None);
    assert!(matches!(run(&mut t, t0 + 3_000)[..], [Action::Run { .. }]));

    // QueueOne: one waits and runs when the slow job ends; a third is skipped.
    let mut t = Timeline::new();
    t.insert(
        "q".into(),
        plan(every.clone(), t0, t0, Overlap::QueueOne, Missed::Skip),
        None,
        t0,
    );
    assert!(matches!(run(&mut t, t0 + 1_000)[..], [Action::Run { .. }]));
    assert!(run(&mut t, t0 + 2_000).is_empty(), "queued, not run");
    assert!(matches!(
        run(&mut t, t0 + 3_000)[..],
        [Action::Skip {
            why: SkipReason::Overlap,
            ..
        }]
    ));
    assert!(matches!(t.finished("q"), Some(Action::Run { due, .. }) if due == t0 + 2_000));
    assert_eq!(t.finished("q"), None, "nothing more queued");

    // Allow: every due time runs.
    let mut t = Timeline::new();
    t.insert(
        "a".into(),
        plan(every, t0, t0, Overlap::Allow, Missed::Skip),
        None,
        t0,
    );
    for k in 1..=3 {
        assert!(matches!(
            run(&mut t, t0 + k * 1_000)[..],
            [Action::Run { .. }]
        ));
    }
}

#[test]
fn issue13_schedules_paused_schedules_skip_and_resume() {
    let t0 = ms(2026, 11, 26, 8, 0, 0);
    let mut t = Timeline::new();
    t.insert(
        "p".into(),
        plan(
            When::Every { ms: 1_000 },
            t0,
            t0,
            Overlap::Allow,
            Missed::Skip,
        ),
        None,
        t0,
    );
    t.pause();
    assert!(matches!(
        t.fire(t0 + 1_000)[..],
        [Action::Skip {
            why: SkipReason::Paused,
            ..
        }]
    ));
    t.resume();
    assert!(matches!(t.fire(t0 + 2_000)[..], [Action::Run { .. }]));
}

#[test]
fn issue13_schedules_a_behind_timeline_does_not_replay_a_backlog() {
    let t0 = ms(2026, 11, 26, 8, 0, 0);
    let mut t = Timeline::new();
    t.insert(
        "b".into(),
        plan(
            When::Every { ms: 1_000 },
            t0,
            t0,
            Overlap::Allow,
            Missed::Skip,
        ),
        None,
        t0,
    );
    // The process slept for an hour: one run, then the next due time after now.
    let late = t0 + 3_600_000 + 300;
    assert_eq!(t.fire(late).len(), 1);
    assert_eq!(t.next_fire(), Some(t0 + 3_601_000));
}

#[test]
fn issue13_schedules_jittered_fire_times_stay_within_the_jitter() {
    let t0 = ms(2026, 11, 26, 8, 0, 0);
    let mut t = Timeline::new();
    let mut p = plan(
        When::Every { ms: 60_000 },
        t0,
        t0,
        Overlap::Allow,
        Missed::Skip,
    );
    p.jitter_ms = 5_000;
    t.insert("j".into(), p.clone(), None, t0);
    let at = t.next_fire().unwrap();
    assert!((t0 + 60_000..=t0 + 65_000).contains(&at), "{at}");
    // Deterministic: the same schedule and due time fire at the same moment.
    let mut t2 = Timeline::new();
    t2.insert("j".into(), p, None, t0);
    assert_eq!(t2.next_fire(), Some(at));
    let fired = t.fire(at);
    assert!(matches!(fired[..], [Action::Run { due, .. }] if due == t0 + 60_000));
}

#[test]
fn issue13_schedules_spec_decoder_names_the_bad_field() {
    let field = |json: &str| match ScheduleSpec::from_json(json.as_bytes()) {
        Err(DecodeError::Invalid(e)) => e.field,
        other => panic!("{json}: {other:?}"),
    };
    let job = r#""job":{"kind":"echo","params":{}}"#;
    assert_eq!(
        field(&format!(r#"{{"when":{{"cron":"99 * * * *"}},{job}}}"#)),
        "when.cron"
    );
    assert_eq!(
        field(&format!(
            r#"{{"when":{{"cron":"* * * * *","tz":"X/Y"}},{job}}}"#
        )),
        "when.tz"
    );
    assert_eq!(
        field(&format!(r#"{{"when":{{"every_ms":5}},{job}}}"#)),
        "when.every_ms"
    );
    assert_eq!(field(&format!(r#"{{"when":{{}},{job}}}"#)), "when");
    assert_eq!(
        field(&format!(
            r#"{{"when":{{"every_ms":1000,"cron":"* * * * *"}},{job}}}"#
        )),
        "when"
    );
    assert_eq!(
        field(&format!(
            r#"{{"id":"a/b","when":{{"every_ms":1000}},{job}}}"#
        )),
        "id"
    );
    assert_eq!(
        field(&format!(
            r#"{{"when":{{"every_ms":1000}},{job},"overlap":"sometimes"}}"#
        )),
        "overlap"
    );
    assert_eq!(
        field(&format!(
            r#"{{"when":{{"every_ms":1000}},{job},"jitter_ms":-1}}"#
        )),
        "jitter_ms"
    );
    assert_eq!(
        field(r#"{"when":{"every_ms":1000},"job":{"kind":""}}"#),
        "job.kind"
    );
    assert_eq!(field(r#"{"when":{"every_ms":1000}}"#), "");
    assert!(matches!(
        ScheduleSpec::from_json(b"{not json"),
        Err(DecodeError::Malformed(_))
    ));
}

fn arb_when() -> impl Strategy<Value = When> {
    prop_oneof![
        (1_000u64..=86_400_000).prop_map(|ms| When::Every { ms }),
        (
            prop::sample::select(vec![
                "* * * * *",
                "*/5 * * * *",
                "0 9 * * 1-5",
                "*/15 * * * * *",
                "0 0 1 * *",
                "30 2 * * *",
                "@hourly",
            ]),
            prop::option::of(prop::sample::select(vec![
                "UTC",
                "Europe/Oslo",
                "America/New_York",
                "Asia/Kolkata",
            ])),
        )
            .prop_map(|(e, tz)| When::Cron {
                expr: e.into(),
                tz: tz.map(Into::into)
            }),
    ]
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_spec() -> impl Strategy<Value = ScheduleSpec> {
    (
        prop::option::of("[A-Za-z0-9_:@+-][A-Za-z0-9._:@+-]{0,20}"),
        arb_when(),
        "[a-z]{1,8}(\\.[a-z]{1,8})?",
        arb_json(),
        prop::option::of(1u64..3_600_000),
        prop::sample::select(vec![Missed::Skip, Missed::RunOnce]),
        prop::sample::select(vec![Overlap::Skip, Overlap::QueueOne, Overlap::Allow]),
        0u64..=3_600_000,
        prop::collection::btree_map("[a-z]{1,10}", ".{0,20}", 0..4),
    )
        .prop_map(
            |(id, when, kind, params, timeout_ms, missed, overlap, jitter_ms, labels)| {
                ScheduleSpec {
                    id,
                    when,
                    job: JobTemplate {
                        kind,
                        params,
                        timeout_ms,
                    },
                    missed,
                    overlap,
                    jitter_ms,
                    labels: labels.into_iter().collect::<BTreeMap<_, _>>(),
                }
            },
        )
}

proptest! {
    #[test]
    fn issue13_schedules_spec_json_round_trips(spec in arb_spec()) {
        let text = serde_json::to_vec(&spec.to_value()).unwrap();
        let back = ScheduleSpec::from_json(&text).unwrap();
        prop_assert_eq!(back, spec);
    }

    #[test]
    fn issue13_schedules_spec_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = ScheduleSpec::from_json(&bytes);
    }

    #[test]
    fn issue13_schedules_spec_decoder_never_panics_on_cron_text(expr in ".{0,40}", tz in prop::option::of(".{0,20}")) {
        let v = serde_json::json!({"when": {"cron": expr, "tz": tz}, "job": {"kind": "echo"}});
        let _ = ScheduleSpec::from_value(v);
    }
}

/// Found by issue 17 (a Towerops POLL slower than its interval): a due time queued behind a
/// running job (`queue_one`) fires nothing itself, and the timer used to give a schedule its
/// next due time only after a firing that ran something, so such a schedule ran its queued
/// run and then never again. Jobs of 2.5 s every second, under paused time: they follow each
/// other for the whole span, never overlapping.
#[tokio::test(start_paused = true)]
async fn issue17_schedules_a_slow_queue_one_schedule_keeps_running() {
    #[derive(Clone)]
    struct Slow {
        clock: PausedClock,
        timer: Arc<Timer>,
        runs: Arc<Mutex<Vec<(i64, i64)>>>,
    }
    impl Slow {
        fn start(&self, id: Arc<str>) {
            let s = self.clone();
            let started = s.clock.now_ms();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(2_500)).await;
                s.runs.lock().unwrap().push((started, s.clock.now_ms()));
                if let Some(Action::Run { id, .. }) = s.timer.quiet(|t| t.finished(&id)) {
                    s.start(id);
                }
            });
        }
    }
    impl Sink for Slow {
        fn fire(&self, actions: Vec<Action>) {
            for a in actions {
                if let Action::Run { id, .. } = a {
                    self.start(id);
                }
            }
        }
    }
    let base = ms(2026, 11, 26, 8, 0, 0);
    let timer = Arc::new(Timer::new());
    timer.update(|t| {
        t.insert(
            "slow".into(),
            plan(
                When::Every { ms: 1_000 },
                base,
                base,
                Overlap::QueueOne,
                Missed::Skip,
            ),
            None,
            base,
        )
    });
    let clock = PausedClock::at(base);
    let sink = Slow {
        clock: clock.clone(),
        timer: timer.clone(),
        runs: Arc::default(),
    };
    timer
        .run(
            clock,
            sink.clone(),
            tokio::time::sleep(Duration::from_secs(20)),
        )
        .await;
    let runs = sink.runs.lock().unwrap().clone();
    assert!(
        runs.len() >= 6,
        "only {} runs in 20 s: {runs:?}",
        runs.len()
    );
    for w in runs.windows(2) {
        assert!(w[0].1 <= w[1].0, "overlap: {runs:?}");
    }
}
