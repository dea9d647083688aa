//! Issue 17 (MIKROTIK): Towerops' RouterOS API jobs through a real agent (`outpost run`
//! with the Towerops variables) and the in-suite Towerops server, against the suite's
//! RouterOS API peer (test-support `routeros`; no RouterOS image is available here, so the
//! peer is written from the protocol description). Rows come back as MikrotikResult with
//! the command's words in the order the job gave them; a wrong password, a `!trap` and a
//! `!fatal` are answered in the original's words; TLS certificates are pinned on first use
//! in the host-keys file and a changed one is refused before any login is sent; hostile
//! replies end the job with a clear error while the agent keeps serving; a silent router
//! is bounded by the job's deadline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{wait_for, Agent, Options};
use outpost_proto::towerops::{
    AgentJob, AgentJobList, JobType, MikrotikCommand, MikrotikDevice, MikrotikResult,
};
use outpost_test_support::routeros::{Mode, RouterOs};
use outpost_test_support::towerops::Server;
use sha2::{Digest, Sha256};

const TOKEN: &str = "tok-issue17-mikrotik";
const USER: &str = "api-user";
const PASSWORD: &str = "pa55-not-in-any-log";

async fn agent_joined(server: &Server, dir: &std::path::Path) -> Agent {
    let agent = Agent::start(
        Options::new(dir)
            .env("TOWEROPS_API_URL", &server.api_url())
            .env("TOWEROPS_AGENT_TOKEN", TOKEN)
            .env("TOWEROPS_INSECURE", "true")
            .env(
                "TOWEROPS_HOST_KEYS_FILE",
                dir.join("known_hosts.json").to_str().unwrap(),
            ),
    );
    wait_for("the join", Duration::from_secs(20), || async {
        server.accepted_joins() >= 1
    })
    .await;
    agent
}

fn cmd(command: &str, words: &[&str], args: &[(&str, &str)]) -> MikrotikCommand {
    MikrotikCommand {
        command: command.into(),
        args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        words: words.iter().map(|w| w.to_string()).collect(),
    }
}

fn job(
    id: &str,
    peer: &RouterOs,
    password: &str,
    tls: bool,
    commands: Vec<MikrotikCommand>,
) -> AgentJob {
    AgentJob {
        job_id: id.into(),
        job_type: JobType::Mikrotik as i32,
        device_id: format!("dev-{id}"),
        mikrotik_device: Some(MikrotikDevice {
            ip: "127.0.0.1".into(),
            port: u32::from(peer.port),
            username: USER.into(),
            password: password.into(),
            use_ssl: tls,
            ssh_port: 0,
        }),
        mikrotik_commands: commands,
        ..Default::default()
    }
}

/// Sends `j` and waits for its MikrotikResult.
async fn run(server: &Server, j: AgentJob) -> MikrotikResult {
    let id = j.job_id.clone();
    assert!(server.send_jobs(&AgentJobList { jobs: vec![j] }));
    let find = || {
        server
            .decoded::<MikrotikResult>("mikrotik_result")
            .into_iter()
            .find(|r| r.job_id == id)
    };
    wait_for(
        &format!("the mikrotik_result of {id}"),
        Duration::from_secs(60),
        || async { find().is_some() },
    )
    .await;
    find().unwrap()
}

fn resource() -> MikrotikCommand {
    cmd("/system/resource/print", &[], &[])
}

fn row(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_towerops_mikrotik_rows_in_order_wrong_password_trap_and_fatal() {
    let peer = RouterOs::start(USER, PASSWORD).await;
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let a = agent_joined(&server, dir.path()).await;

    // Ordered words win over the args map: the args would ask for wlan, the words for
    // ether, and the words reach the router exactly in the job's order.
    let r = run(
        &server,
        job(
            "mikrotik:good",
            &peer,
            PASSWORD,
            false,
            vec![
                resource(),
                cmd(
                    "/interface/print",
                    &["=.proplist=.id,name,type", "?type=ether"],
                    &[("?type", "wlan")],
                ),
            ],
        ),
    )
    .await;
    assert_eq!(r.error, "", "{r:?}");
    assert_eq!(r.device_id, "dev-mikrotik:good");
    assert!(r.timestamp > 1_700_000_000);
    let rows: Vec<_> = r.sentences.iter().map(|s| s.attributes.clone()).collect();
    assert_eq!(
        rows,
        vec![
            row(&[
                ("board-name", "CHR"),
                ("cpu-load", "3"),
                ("uptime", "1w2d3h"),
                ("version", "7.16.2 (stable)")
            ]),
            row(&[(".id", "*1"), ("name", "ether1"), ("type", "ether")]),
        ]
    );
    let got = peer.received();
    assert_eq!(
        got[0],
        [
            "/login",
            &format!("=name={USER}"),
            &format!("=password={PASSWORD}")
        ]
    );
    assert_eq!(got[1], ["/system/resource/print"]);
    assert_eq!(
        got[2],
        [
            "/interface/print",
            "=.proplist=.id,name,type",
            "?type=ether"
        ]
    );
    // Closed politely.
    wait_for("the /quit", Duration::from_secs(10), || async {
        peer.received().len() >= 4
    })
    .await;
    assert_eq!(peer.received()[3], ["/quit"]);

    // Args alone: `?` and `.` keys as `k=v`, the others as `=k=v`.
    let r = run(
        &server,
        job(
            "mikrotik:args",
            &peer,
            PASSWORD,
            false,
            vec![cmd("/interface/print", &[], &[("?type", "wlan")])],
        ),
    )
    .await;
    assert_eq!(r.error, "", "{r:?}");
    assert_eq!(r.sentences.len(), 1);
    assert_eq!(r.sentences[0].attributes["name"], "wlan1");
    assert!(peer
        .received()
        .iter()
        .any(|s| s == &["/interface/print", "?type=wlan"]));

    // `!done` with attributes is a row too.
    let r = run(
        &server,
        job(
            "mikrotik:ret",
            &peer,
            PASSWORD,
            false,
            vec![cmd("/system/identity/set", &["=name=r1"], &[])],
        ),
    )
    .await;
    assert_eq!((r.error.as_str(), r.sentences.len()), ("", 1), "{r:?}");
    assert_eq!(r.sentences[0].attributes["ret"], "ok");

    // A wrong password: the router's own message, no rows.
    let r = run(
        &server,
        job("mikrotik:badpass", &peer, "wrong", false, vec![resource()]),
    )
    .await;
    assert_eq!(
        r.error,
        "connection failed: login failed: invalid user name or password (6)"
    );
    assert!(r.sentences.is_empty());

    // `!trap`: the rows so far, the trap's message, and the commands after it not run.
    let before = peer.received().len();
    let r = run(
        &server,
        job(
            "mikrotik:trap",
            &peer,
            PASSWORD,
            false,
            vec![
                resource(),
                cmd("/nope/print", &[], &[]),
                cmd("/interface/print", &[], &[]),
            ],
        ),
    )
    .await;
    assert_eq!(
        r.error,
        "command '/nope/print' error: no such command prefix"
    );
    assert_eq!(r.sentences.len(), 1, "{r:?}");
    assert_eq!(r.sentences[0].attributes["board-name"], "CHR");
    let sent: Vec<String> = peer.received()[before..]
        .iter()
        .map(|s| s[0].clone())
        .collect();
    assert!(!sent.contains(&"/interface/print".to_owned()), "{sent:?}");

    // A recurring job is scheduled locally; each run answers under the job's id.
    let mut every = job("mikrotik:every", &peer, PASSWORD, false, vec![resource()]);
    every.interval_seconds = 1;
    assert!(server.send_jobs(&AgentJobList { jobs: vec![every] }));
    wait_for(
        "two runs of the recurring job",
        Duration::from_secs(30),
        || async {
            server
                .decoded::<MikrotikResult>("mikrotik_result")
                .iter()
                .filter(|r| r.job_id == "mikrotik:every" && r.error.is_empty())
                .count()
                >= 2
        },
    )
    .await;
    // An empty list clears the inventory (a run still in flight does not matter below).
    assert!(server.send_jobs(&AgentJobList { jobs: vec![] }));

    // `!fatal`: the session is over, said so.
    peer.set_mode(Mode::Fatal);
    let r = run(
        &server,
        job("mikrotik:fatal", &peer, PASSWORD, false, vec![resource()]),
    )
    .await;
    assert_eq!(
        r.error,
        "command '/system/resource/print' failed: fatal: out of memory"
    );

    // The password is in no stored job and no log line.
    let jobs = a.get_json("/v1/jobs?limit=1000").await.to_string();
    assert!(jobs.contains("towerops.mikrotik"), "{jobs}");
    assert!(!jobs.contains(PASSWORD), "{jobs}");
    assert!(!a.log_text().contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_towerops_mikrotik_hostile_replies_and_the_deadline() {
    let peer = RouterOs::start(USER, PASSWORD).await;
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let _a = agent_joined(&server, dir.path()).await;

    for (n, (mode, expect)) in [
        (Mode::OversizedPrefix, "is over the limit of 10485760"),
        (Mode::TruncatedWord, "the router closed the connection"),
        (Mode::Garbage, "reserved control byte 0xff"),
        (Mode::NeverEnding, "over the limit of 10000 sentences"),
    ]
    .into_iter()
    .enumerate()
    {
        peer.set_mode(mode);
        let r = run(
            &server,
            job(
                &format!("mikrotik:hostile-{n}"),
                &peer,
                PASSWORD,
                false,
                vec![resource()],
            ),
        )
        .await;
        assert!(
            r.error
                .starts_with("command '/system/resource/print' failed: ")
                && r.error.contains(expect),
            "{mode:?}: {r:?}"
        );
        // The agent keeps serving: the next job succeeds.
        peer.set_mode(Mode::Normal);
        let r = run(
            &server,
            job(
                &format!("mikrotik:after-{n}"),
                &peer,
                PASSWORD,
                false,
                vec![resource()],
            ),
        )
        .await;
        assert_eq!(
            (r.error.as_str(), r.sentences.len()),
            ("", 1),
            "after {mode:?}"
        );
    }

    // The pre-6.43 challenge login is refused, saying why.
    peer.set_mode(Mode::ChallengeLogin);
    let r = run(
        &server,
        job("mikrotik:md5", &peer, PASSWORD, false, vec![resource()]),
    )
    .await;
    assert!(r.error.starts_with("connection failed: "), "{r:?}");
    assert!(r.error.contains("MD5 challenge"), "{r:?}");

    // A router that never answers: the job's deadline ends it, not the 30 s read timeout.
    peer.set_mode(Mode::Silent);
    let mut j = job("mikrotik:silent", &peer, PASSWORD, false, vec![resource()]);
    j.deadline_ms = 1500;
    let started = Instant::now();
    let r = run(&server, j).await;
    let took = started.elapsed();
    assert!(r.error.contains("timed out"), "{r:?}");
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    assert!(took < Duration::from_secs(15), "{took:?}");

    // Nothing listening: a connection error, not an empty result.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut j = job("mikrotik:refused", &peer, PASSWORD, false, vec![resource()]);
    j.mikrotik_device.as_mut().unwrap().port = u32::from(port);
    let r = run(&server, j).await;
    assert!(r.error.starts_with("connection failed: "), "{r:?}");

    // The legacy `backup:` job is not this kind's: it goes to the SSH export
    // (issue17_towerops_backup), which this API-only peer cannot serve.
    let mut b = job("backup:1", &peer, PASSWORD, false, vec![]);
    b.mikrotik_device.as_mut().unwrap().ssh_port = u32::from(port);
    let r = run(&server, b).await;
    assert!(r.error.starts_with("SSH backup failed"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_towerops_mikrotik_tls_pinned_on_first_use_then_a_changed_cert_refused() {
    let peer = RouterOs::start_tls(USER, PASSWORD).await;
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let _a = agent_joined(&server, dir.path()).await;
    let file = dir.path().join("known_hosts.json");
    let entry = format!("tls:127.0.0.1:{}", peer.port);

    let r = run(
        &server,
        job("mikrotik:tls1", &peer, PASSWORD, true, vec![resource()]),
    )
    .await;
    assert_eq!((r.error.as_str(), r.sentences.len()), ("", 1), "{r:?}");
    let pinned: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let sha = hex::encode(Sha256::digest(peer.certificate_der().unwrap()));
    assert_eq!(pinned.get(&entry), Some(&sha), "{pinned:?}");

    // The same certificate again: accepted.
    let r = run(
        &server,
        job("mikrotik:tls2", &peer, PASSWORD, true, vec![resource()]),
    )
    .await;
    assert_eq!(r.error, "", "{r:?}");

    // A new certificate on the same host and port: refused before any login is sent, and
    // the trusted one stays in the file.
    peer.rotate_certificate();
    let logins = |p: &RouterOs| p.received().iter().filter(|s| s[0] == "/login").count();
    let before = logins(&peer);
    let r = run(
        &server,
        job("mikrotik:tls3", &peer, PASSWORD, true, vec![resource()]),
    )
    .await;
    assert!(r.error.starts_with("connection failed: "), "{r:?}");
    assert!(r.error.contains("possible MITM"), "{r:?}");
    assert!(r.sentences.is_empty());
    assert_eq!(logins(&peer), before);
    let after: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(after.get(&entry), Some(&sha));
}
