//! Issue 18: provisioning from SocketMan's init server (`outpost run -b URL`), against a
//! real HTTP server that records each GET: a missing config.json is asked for with the
//! MAC, machine and firmware, checked, saved (mode 0600) and used; a 401 from the stats
//! collector provisions again; a malformed config is refused and asked for again while the
//! old file stays; the next good one is used, and the cache kept through it is delivered
//! with the new token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::{Agent, Options};
use outpost_test_support::{multipart, recorder::Recorder};

const MAC: &str = "AA-BB-CC-00-11-2F";

fn good(stats: &Recorder, token: &str) -> String {
    format!(
        r#"{{"disable_mqtt":1,"mac":"{MAC}","token":"{token}","health_url":"127.0.0.1","health_port":9,"stats_url":"{}/stats"}}"#,
        stats.base()
    )
}

fn start(dir: &Path, init: &Recorder) -> Agent {
    let toml = dir.join("outpost.toml");
    std::fs::write(dir.join("mac"), format!("{MAC}\n")).unwrap();
    std::fs::write(
        &toml,
        format!(
            "[socketman]\nmac_file = \"{}\"\n",
            dir.join("mac").display()
        ),
    )
    .unwrap();
    Agent::start(
        Options::new(&dir.join("data"))
            .env("DEBUG", "1")
            .arg("--config")
            .arg(toml.to_str().unwrap())
            .arg("--socketman-config")
            .arg(dir.join("config.json").to_str().unwrap())
            .arg("-b")
            .arg(&format!("{}/api/v2/init", init.base())),
    )
}

fn request_line(r: &outpost_test_support::http::Request) -> String {
    r.raw_head.lines().next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_provision_missing_config_is_fetched_checked_saved_and_used() {
    let dir = tempfile::tempdir().unwrap();
    let (init, stats) = (Recorder::start(None).await, Recorder::start(None).await);
    let body = good(&stats, "tok1");
    init.answer_with(201, body.as_bytes());
    let a = start(dir.path(), &init);
    common::wait_for("a stats POST", Duration::from_secs(60), || async {
        !stats.requests().is_empty()
    })
    .await;
    let get = &init.requests()[0];
    let line = request_line(get);
    assert!(
        line.starts_with(&format!("GET /api/v2/init?mac={MAC}&machine=")),
        "{line}"
    );
    assert!(line.contains("&firmware="), "{line}");
    let saved = dir.path().join("config.json");
    assert_eq!(std::fs::read_to_string(&saved).unwrap(), body);
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        request_line(&stats.requests()[0]),
        format!("POST /stats?access_token=tok1&mac={MAC} HTTP/1.1"),
        "{}",
        a.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_provision_after_401_refuses_a_malformed_config_and_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let (init, refusing, second) = (
        Recorder::start(None).await,
        Recorder::start(None).await,
        Recorder::start(None).await,
    );
    refusing.answer(401);
    let old = good(&refusing, "old");
    std::fs::write(dir.path().join("config.json"), &old).unwrap();
    let malformed = format!(r#"{{"disable_mqtt":1,"mac":"{MAC}","monitor":"often"}}"#);
    init.answer_with(200, malformed.as_bytes());
    let a = start(dir.path(), &init);
    // The 401 provisions again: the malformed answer is refused, asked for again.
    common::wait_for("two init requests", Duration::from_secs(60), || async {
        init.requests().len() >= 2
    })
    .await;
    assert_eq!(
        refusing.requests().len(),
        1,
        "the backup-less 401 is not retried"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config.json")).unwrap(),
        old,
        "the old config stays while the new one is refused"
    );
    common::wait_until("the refusal logged", Duration::from_secs(10), || {
        a.log_text().contains("\"monitor\"")
    });
    // A good answer now: saved, used with its token; the line kept through the 401 arrives.
    let body = good(&second, "new");
    init.answer_with(200, body.as_bytes());
    common::wait_for(
        "a POST with the new token",
        Duration::from_secs(60),
        || async { !second.requests().is_empty() },
    )
    .await;
    let post = &second.requests()[0];
    assert_eq!(
        request_line(post),
        format!("POST /stats?access_token=new&mac={MAC} HTTP/1.1")
    );
    let lines = multipart::gzip_ndjson(post, "data");
    assert!(
        lines.len() >= 2,
        "the line kept through the 401, and a new one: {lines:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config.json")).unwrap(),
        body
    );
    let init_line = request_line(&init.requests()[0]);
    assert!(
        init_line.starts_with(&format!("GET /api/v2/init?mac={MAC}&")),
        "{init_line}"
    );
}
