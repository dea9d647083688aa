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
