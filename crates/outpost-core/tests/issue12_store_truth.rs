//! Issue 12: store errors tell the truth, and a failed commit leaves memory and disk in
//! agreement. The failure is real: the store lives on a small tmpfs the test mounts (as
//! root, like the suite), which fills up; the test then grows the file system and checks
//! that nothing the failed batches touched in memory disagrees with what is on disk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{path::Path, process::Command, time::Duration};

use outpost_core::{CoreMetrics, Event, EventIds, Store, StoreConfig, StoreError};

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount(8) is needed to give the store a file system that fills up");
        assert!(
            out.status.success(),
            "mounting a tmpfs failed (the suite runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn event(ids: &mut EventIds, bytes: usize) -> Event {
    let payload =
        serde_json::value::to_raw_value(&serde_json::json!({ "blob": "x".repeat(bytes) })).unwrap();
    Event::encoded(ids, "test.blob", payload)
}

fn open(dir: &Path, max_rows: u64) -> Store {
    let mut cfg = StoreConfig::new(dir.join("outpost.db"));
    cfg.outbox_max_rows = max_rows;
    cfg.op_timeout = Duration::from_secs(20);
    Store::open(cfg, CoreMetrics::default()).unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_a_failed_commit_leaves_memory_and_disk_in_agreement() {
    let fs = Tmpfs::mount("2m");
    let store = open(fs.path(), 1_000_000);
    let mut ids = EventIds::default();
    assert_eq!(store.register_consumer("uplink:a").await.unwrap(), 0);

    // Fill the disk. Each failing batch also carries an acknowledgement and a new
    // consumer's registration, so the batch moves a cursor and adds one in memory.
    let mut stored = 0u64;
    let mut failures = 0;
    for round in 0..400 {
        let late = format!("late:{round}");
        let (append, ack, reg) = tokio::join!(
            store.append_event(event(&mut ids, 48 * 1024)),
            store.ack("uplink:a", stored),
            store.register_consumer(&late),
        );
        match append {
            Ok(seq) => {
                assert_eq!(seq, stored + 1, "no gap, no reuse");
                stored = seq;
            }
            Err(e) => {
                assert!(
                    matches!(e, StoreError::Commit(_)),
                    "a full disk is a failed commit, not {e:?}"
                );
                assert!(e.to_string().contains("commit failed"), "{e}");
                // The other commands of the failed batch were told so, too.
                if let Err(e) = ack {
                    assert!(matches!(e, StoreError::Commit(_)), "{e:?}");
                }
                if let Err(e) = reg {
                    assert!(matches!(e, StoreError::Commit(_)), "{e:?}");
                }
                failures += 1;
                if failures >= 3 {
                    break;
                }
            }
        }
    }
    assert!(failures >= 3, "the 2 MiB file system never filled");
    assert!(stored > 0);

    // Memory after the failures: the head is the last committed row, and nothing that a
    // failed batch registered exists.
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.head, stored, "head restored after the failed commits");
    let unknown = store.ack("never-registered", 1).await.unwrap_err();
    assert!(
        matches!(&unknown, StoreError::UnknownConsumer(n) if n == "never-registered"),
        "{unknown:?}"
    );

    // Room again: writing resumes at the next seq, and every consumer a failed batch
    // tried to add or move is where the disk says it is.
    fs.resize("64m");
    let seq = store.append_event(event(&mut ids, 16)).await.unwrap();
    assert_eq!(
        seq,
        stored + 1,
        "the next seq follows the last committed one"
    );
    let cursors_in_memory: Vec<u64> = {
        let mut v = vec![store.register_consumer("uplink:a").await.unwrap()];
        for round in 0..400 {
            let name = format!("late:{round}");
            v.push(store.register_consumer(&name).await.unwrap());
        }
        v
    };
    store.close().await.unwrap();
    drop(store);

    let store = open(fs.path(), 1_000_000);
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.head, stored + 1);
    let mut cursors_on_disk = vec![store.register_consumer("uplink:a").await.unwrap()];
    for round in 0..400 {
        cursors_on_disk.push(
            store
                .register_consumer(&format!("late:{round}"))
                .await
                .unwrap(),
        );
    }
    assert_eq!(cursors_in_memory, cursors_on_disk);
    let rows = store.outbox_after(0, 10_000).await.unwrap();
    assert_eq!(rows.len() as u64, stored + 1);
    assert!(rows.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_a_failed_trim_counts_no_drop() {
    let fs = Tmpfs::mount("64m");
    // Keep at most 5 rows: a trim wants to drop unacknowledged ones.
    let store = open(fs.path(), 5);
    let mut ids = EventIds::default();
    store.register_consumer("uplink:slow").await.unwrap();
    // Fill up in one go, with no trim yet (trims run at most once a second after writes):
    // then shrink the file system to what is used, so the trim's own writes fail.
    for _ in 0..40 {
        store
            .append_event(event(&mut ids, 32 * 1024))
            .await
            .unwrap();
    }
    let before = store.stats().await.unwrap();
    let used_kib = {
        let out = Command::new("df")
            .args(["--output=used", "-k"])
            .arg(fs.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    fs.resize(&format!("{}k", used_kib));
    // Make the next trim's writes need room that is not there: fill the last bytes.
    let filler = fs.path().join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 4 << 20]);
    let res = store.trim_now().await;
    let after = store.stats().await.unwrap();
    match res {
        Err(e) => {
            assert!(matches!(e, StoreError::Trim(_)), "{e:?}");
            assert_eq!(
                after.outbox_dropped, before.outbox_dropped,
                "a trim that did not commit counts no drop"
            );
        }
        Ok(()) => panic!("the trim should have failed on a full file system"),
    }
    // With room again the trim commits and counts exactly what it dropped, once.
    let _ = std::fs::remove_file(&filler);
    fs.resize("64m");
    store.trim_now().await.unwrap();
    let done = store.stats().await.unwrap();
    assert_eq!(
        done.outbox_dropped, 35,
        "40 rows, 5 kept, 35 dropped unacknowledged"
    );
    store.close().await.unwrap();
    drop(store);
    let store = open(fs.path(), 5);
    assert_eq!(
        store.stats().await.unwrap().outbox_dropped,
        35,
        "memory equals disk"
    );
    store.close().await.unwrap();
}

/// Waits for its gate, then succeeds.
struct Gate(std::sync::Arc<tokio::sync::Notify>);

impl outpost_core::Executor for Gate {
    type Params = serde_json::Value;
    type Output = u32;
    fn kind(&self) -> &'static str {
        "gate"
    }
    async fn run(
        &self,
        _p: serde_json::Value,
        _cx: outpost_core::JobContext,
    ) -> Result<u32, outpost_core::ExecError> {
        self.0.notified().await;
        Ok(7)
    }
}

/// Writes until the file system is full; returns the filler's path.
fn fill(dir: &Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    path
}

/// Invariant 2 through the dispatcher (it was guarded only through the store): a job whose
/// result cannot be committed is never reported done to anyone, and is counted `unstored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_dispatcher_reports_done_only_after_the_result_is_committed() {
    use outpost_core::{Dispatcher, DispatcherConfig, JobSpec, Registry};
    let fs = Tmpfs::mount("8m");
    let store = open(fs.path(), 1_000_000);
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut reg = Registry::new();
    reg.register(Gate(gate.clone()));
    let metrics = CoreMetrics::default();
    let d = Dispatcher::new(
        reg,
        store.clone(),
        metrics.clone(),
        DispatcherConfig::default(),
    );
    let sub = d
        .submit(JobSpec {
            id: None,
            kind: "gate".into(),
            params: serde_json::json!({}),
            timeout: Duration::from_secs(30),
            source: "test".into(),
        })
        .await
        .unwrap();
    let filler = fill(fs.path());
    gate.notify_one();
    // The dispatcher retries the commit five times (about 1.5 s), then gives up.
    let mut done = sub.done.clone();
    let told = tokio::time::timeout(Duration::from_secs(4), async {
        done.wait_for(|v| v.is_some()).await.map(|v| v.clone())
    })
    .await;
    // Never told: either still waiting, or the job's channel closed without a result.
    assert!(
        !matches!(told, Ok(Ok(_))),
        "a waiter was told the job finished though its result was never committed: {told:?}"
    );
    let mut text = String::new();
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("outcome=\"unstored\"") && l.trim_end().ends_with(" 1")),
        "the job is counted unstored:\n{text}"
    );
    // With room again, the store is whole: the job is on disk as accepted, never as done.
    std::fs::remove_file(filler).unwrap();
    let rec = store.job(sub.id).await.unwrap().unwrap();
    assert!(
        !matches!(rec.state, outpost_core::JobState::Succeeded),
        "{rec:?}"
    );
}
