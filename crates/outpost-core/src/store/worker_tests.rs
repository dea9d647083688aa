//! Unit tests of the store thread that need its private state (see worker.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn send(conn: &mut Connection, state: &mut State, cfg: &StoreConfig, batch: Vec<Command>) {
    let mut batch = batch;
    let publisher = super::super::Publisher::default();
    run_batch(conn, cfg, state, &mut batch, &publisher);
}

/// issue 12: after a failed commit the whole in-memory state is what it was, consumer
/// cursors included (before, only head and the job count were restored). The commit is
/// made to fail for real: temporary triggers add a row that breaks a deferred foreign
/// key, which SQLite checks at COMMIT.
#[test]
fn issue12_failed_commit_restores_cursors_head_and_job_count() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig::new(dir.path().join("t.db"));
    let (mut conn, _, mut state) = open(&cfg).unwrap();
    let (reg, _r1) = oneshot::channel();
    let (app, _r2) = oneshot::channel();
    let mut ids = crate::EventIds::default();
    let ev = Event::encoded(
        &mut ids,
        "test",
        serde_json::value::to_raw_value(&1).unwrap(),
    );
    send(
        &mut conn,
        &mut state,
        &cfg,
        vec![
            Command::Register {
                name: "a".into(),
                reply: reg,
            },
            Command::AppendEvent {
                event: Box::new(ev.clone()),
                reply: app,
            },
        ],
    );
    assert_eq!((state.head, state.cursors.get("a").copied()), (1, Some(0)));
    conn.execute_batch(
        "PRAGMA foreign_keys=ON;
         CREATE TEMP TABLE parent(id INTEGER PRIMARY KEY);
         CREATE TEMP TABLE child(p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
         CREATE TEMP TRIGGER fail_on_ack AFTER UPDATE ON consumers BEGIN INSERT INTO child VALUES (42); END;",
    )
    .unwrap();
    let before = (state.head, state.jobs, state.cursors.clone());
    let (ack, ack_rx) = oneshot::channel();
    let (reg, reg_rx) = oneshot::channel();
    let (app, app_rx) = oneshot::channel();
    let mut ev2 = ev;
    ev2.id = ids.next_id();
    send(
        &mut conn,
        &mut state,
        &cfg,
        vec![
            Command::AppendEvent {
                event: Box::new(ev2),
                reply: app,
            },
            Command::Ack {
                name: "a".into(),
                seq: 2,
                reply: ack,
            },
            Command::Register {
                name: "b".into(),
                reply: reg,
            },
        ],
    );
    for r in [
        ack_rx.blocking_recv().unwrap().map(|_| 0),
        reg_rx.blocking_recv().unwrap(),
        app_rx.blocking_recv().unwrap(),
    ] {
        assert!(matches!(r, Err(StoreError::Commit(_))), "{r:?}");
    }
    assert_eq!((state.head, state.jobs, state.cursors.clone()), before);
    // And memory equals disk.
    let on_disk: u64 = conn
        .query_row("SELECT cursor FROM consumers WHERE name='a'", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap() as u64;
    assert_eq!(state.cursors.get("a").copied(), Some(on_disk));
}

fn done(id: crate::JobId) -> Arc<JobRecord> {
    Arc::new(JobRecord {
        id,
        kind: "echo".into(),
        params: None,
        timeout_ms: 1000,
        source: "api".into(),
        state: crate::JobState::Succeeded,
        created_at: 1,
        started_at: Some(2),
        finished_at: Some(3),
        output: None,
        error: None,
        schedule: None,
    })
}

/// Sends `records`' results in one batch; each one's seq, or `None` where it failed.
fn finish_together(
    conn: &mut Connection,
    state: &mut State,
    cfg: &StoreConfig,
    records: &[Arc<JobRecord>],
) -> Vec<Option<u64>> {
    let mut batch = Vec::new();
    let mut rxs = Vec::new();
    for r in records {
        let (reply, rx) = oneshot::channel();
        batch.push(Command::FinishJob {
            record: r.clone(),
            reply,
        });
        rxs.push(rx);
    }
    send(conn, state, cfg, batch);
    rxs.into_iter()
        .map(|rx| rx.blocking_recv().unwrap().ok())
        .collect()
}

/// issue 14: results that reach the store together are finished in one savepoint (the
/// per-result savepoint was 45% of the store thread's CPU per check), yet one that fails
/// still fails alone: the others are stored, each with its own outbox row, and the seq the
/// failed one took is given to the next row, as when each had a savepoint of its own.
#[test]
fn issue14_results_finished_together_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig::new(dir.path().join("t.db"));
    let (mut conn, _, mut state) = open(&cfg).unwrap();
    let records: Vec<_> = (0..5).map(|_| done(crate::JobId::new())).collect();
    let bad = records[2].id.to_string();
    conn.execute_batch(&format!(
        "CREATE TEMP TRIGGER fail_one BEFORE INSERT ON outbox WHEN NEW.job = '{bad}'
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
    ))
    .unwrap();
    let got = finish_together(&mut conn, &mut state, &cfg, &records);
    assert_eq!(got, [Some(1), Some(2), None, Some(3), Some(4)]);
    assert_eq!((state.head, state.jobs), (4, 4));
    let stored: Vec<(i64, String)> = conn
        .prepare("SELECT seq, job FROM outbox ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let want: Vec<(i64, String)> = [0, 1, 3, 4]
        .iter()
        .zip(1..)
        .map(|(&i, seq)| (seq, records[i].id.to_string()))
        .collect();
    assert_eq!(stored, want);
    let bad_rows: i64 = conn
        .query_row("SELECT count(*) FROM jobs WHERE id = ?1", [&bad], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        bad_rows, 0,
        "the failed result's job row was rolled back with it"
    );

    // Without a failure, a run of results is stored whole.
    conn.execute_batch("DROP TRIGGER fail_one").unwrap();
    let more: Vec<_> = (0..3).map(|_| done(crate::JobId::new())).collect();
    let got = finish_together(&mut conn, &mut state, &cfg, &more);
    assert_eq!(got, [Some(5), Some(6), Some(7)]);
}
