//! Issue 15: the store's `apps` table (schema 4): declared apps survive a reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_core::{AppRow, CoreMetrics, Store, StoreConfig};

fn open(path: &std::path::Path) -> Store {
    Store::open(StoreConfig::new(path), CoreMetrics::default())
        .unwrap()
        .0
}

fn row(name: &str, source: &str, spec: &str, at: i64) -> AppRow {
    AppRow {
        name: name.into(),
        source: source.into(),
        spec: spec.into(),
        updated_at: at,
    }
}

#[tokio::test]
async fn issue15_apps_rows_replace_by_name_delete_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = open(&path);
    store
        .put_app(row("web", "dir", "services: {}", 1))
        .await
        .unwrap();
    store.put_app(row("db", "job", "a", 2)).await.unwrap();
    // The same name replaces: source, spec and time all change.
    store.put_app(row("web", "job", "b", 3)).await.unwrap();
    assert_eq!(
        store.apps().await.unwrap(),
        vec![row("db", "job", "a", 2), row("web", "job", "b", 3)]
    );
    assert!(store.delete_app("db").await.unwrap());
    assert!(!store.delete_app("db").await.unwrap());
    store.close().await.unwrap();
    let store = open(&path);
    assert_eq!(store.apps().await.unwrap(), vec![row("web", "job", "b", 3)]);
    store.close().await.unwrap();
}
