//! Issue 13, audit: a real log of many runs verifies; a copy with one byte edited, a line
//! deleted, two lines swapped, the last line cut, or a line edited and re-hashed fails,
//! naming the line; a log with a cut last line is not appended to.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::Path;

use common::{fixture, Fixture};
use outpost_exec::{
    verify, AuditLog, AuditRecord, Decision, Origin, Phase, Request, Source, VerifyFailure,
};
use tokio_util::sync::CancellationToken;

/// 15 runs (two lines each) and 10 refusals: 40 lines.
async fn real_log(f: &Fixture) -> Vec<Vec<u8>> {
    for i in 0..15 {
        f.exec
            .run(
                common::origin(),
                Request::command("echo").param("msg", format!("run {i}")),
                CancellationToken::new(),
            )
            .await
            .expect("runs");
        if i < 10 {
            let refused = f
                .exec
                .run(
                    common::origin(),
                    Request::command("echo").param("msg", format!("$(bad {i})")),
                    CancellationToken::new(),
                )
                .await;
            assert!(refused.is_err());
        }
    }
    let bytes = fs::read(&f.audit_path).expect("log");
    bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn write(path: &Path, lines: &[Vec<u8>]) {
    fs::write(path, lines.concat()).expect("write copy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_the_audit_log_verifies_and_tampering_is_named_by_line() {
    let f = fixture();
    let lines = real_log(&f).await;
    assert_eq!(lines.len(), 40);
    let report = verify(&f.audit_path).expect("the real log verifies");
    assert_eq!(report.lines, 40);
    let copy = f.dir.path().join("copy.log");

    // One byte edited in line 7 (inside a value, so it is still valid JSON).
    let mut edited = lines.clone();
    let at = edited[6]
        .windows(3)
        .position(|w| w == b"run")
        .expect("a run line at 7");
    edited[6][at] = b'R';
    write(&copy, &edited);
    let e = verify(&copy).expect_err("edited");
    assert_eq!((e.line, &e.failure), (7, &VerifyFailure::Edited), "{e}");

    // Line 7 deleted.
    let mut deleted = lines.clone();
    deleted.remove(6);
    write(&copy, &deleted);
    let e = verify(&copy).expect_err("deleted");
    assert_eq!(
        (e.line, &e.failure),
        (
            7,
            &VerifyFailure::Removed {
                expected: 7,
                found: 8
            }
        ),
        "{e}"
    );

    // Lines 7 and 8 swapped.
    let mut swapped = lines.clone();
    swapped.swap(6, 7);
    write(&copy, &swapped);
    let e = verify(&copy).expect_err("swapped");
    assert_eq!(
        (e.line, &e.failure),
        (
            7,
            &VerifyFailure::Reordered {
                expected: 7,
                found: 8
            }
        ),
        "{e}"
    );

    // The last line cut short.
    let mut cut = lines.clone();
    let last = cut.last_mut().expect("lines");
    last.truncate(last.len() - 10);
    write(&copy, &cut);
    let e = verify(&copy).expect_err("cut");
    assert_eq!((e.line, &e.failure), (40, &VerifyFailure::Truncated), "{e}");
    // ... and the log is not appended to: nothing more can run on it.
    let err = AuditLog::open(&copy).expect_err("a cut log does not open");
    assert!(err.to_string().contains("incomplete"), "{err}");

    // Line 12 edited and its own hash recomputed: the next line's prev names the change.
    let mut rehashed = lines.clone();
    let mut rec: AuditRecord = serde_json::from_slice(&rehashed[11]).expect("line 12");
    rec.who = "someone-else".into();
    rec.hash.clear();
    let mut body = serde_json::to_vec(&rec).expect("json");
    body.pop();
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
    body.extend_from_slice(format!(",\"hash\":\"{hash}\"}}\n").as_bytes());
    rehashed[11] = body;
    write(&copy, &rehashed);
    let e = verify(&copy).expect_err("re-hashed");
    assert_eq!(
        (e.line, &e.failure),
        (13, &VerifyFailure::ChainBroken),
        "{e}"
    );

    // A line that is not JSON at all.
    let mut garbage = lines.clone();
    garbage[2] = b"not an audit line\n".to_vec();
    write(&copy, &garbage);
    assert_eq!(verify(&copy).expect_err("garbage").line, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_a_reopened_log_continues_its_chain_with_mode_0600() {
    let f = fixture();
    real_log(&f).await;
    let path = f.dir.path().join("audit.log");
    let log = AuditLog::open(&path).expect("reopen");
    let rec = log
        .append(AuditRecord::new(
            Phase::Decision,
            &Origin::new(Source::Cli, "reopen"),
            Decision::Refused,
            "x",
        ))
        .expect("append");
    assert_eq!(rec.seq, 41);
    assert_eq!(verify(&path).expect("verifies").lines, 41);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&path).expect("meta").permissions());
    assert_eq!(mode & 0o777, 0o600);
    // The first line's prev is the genesis hash.
    let first: AuditRecord = serde_json::from_str(
        fs::read_to_string(&path)
            .expect("log")
            .lines()
            .next()
            .expect("a line"),
    )
    .expect("json");
    assert_eq!(
        first.prev,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            outpost_exec::GENESIS.as_bytes()
        ))
    );
}
