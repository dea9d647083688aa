//! Issue 4: `Store::append_events`, the batch append the trap receiver uses: one command,
//! one all-or-nothing step of the group commit, sequence numbers in order, rows published
//! to live subscribers and readable after a reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_core::{CoreMetrics, Event, OutboxItem, Store, StoreConfig};

fn open(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig::new(dir.join("t.db")), CoreMetrics::default())
        .unwrap()
        .0
}

#[tokio::test]
async fn issue4_append_events_stores_a_batch_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut live = store.subscribe();
    assert_eq!(
        store
            .append_event(Event::new("one", serde_json::json!(0)))
            .await
            .unwrap(),
        1
    );
    let batch: Vec<Event> = (1..=500)
        .map(|n| Event::new("snmp.trap", serde_json::json!({ "n": n })))
        .collect();
    let ids: Vec<_> = batch.iter().map(|e| e.id).collect();
    let seqs = store.append_events(batch).await.unwrap();
    assert_eq!(seqs, (2..=501).collect::<Vec<u64>>());
    assert!(store.append_events(vec![]).await.unwrap().is_empty());
    for want in 1..=501u64 {
        assert_eq!(live.recv().await.unwrap().seq, want);
    }
    store.close().await.unwrap();
    drop(store);
    let store = open(dir.path());
    let rows = store.outbox_after(1, 1000).await.unwrap();
    assert_eq!(rows.len(), 500);
    for (row, id) in rows.iter().zip(ids) {
        let OutboxItem::Event(e) = &row.item else {
            panic!("not an event")
        };
        assert_eq!(e.id, id);
    }
    assert_eq!(
        store
            .append_event(Event::new("after", serde_json::json!(1)))
            .await
            .unwrap(),
        502
    );
}
