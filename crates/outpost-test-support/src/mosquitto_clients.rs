//! Mosquitto's own command-line clients as a test's view of a broker: `mosquitto_sub`
//! printing every message with its topic, QoS and retain flag (what the broker delivered,
//! byte for byte), and `mosquitto_pub` for one message. Started by PID, killed on drop.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::peer::{self, Process};
use crate::wait::wait_until;

const INSTALL: &str = "scripts/deps/40-uplink.sh";

/// One message as `mosquitto_sub` received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub qos: u8,
    pub retained: bool,
    pub payload: String,
}

/// A `mosquitto_sub` at QoS 2 (so each message keeps the QoS it was published with).
pub struct Sub {
    process: Option<Process>,
    lines: Arc<Mutex<Vec<Received>>>,
    _dir: tempfile::TempDir,
}

impl Sub {
    /// Subscribes to `filters`; with `session = Some(id)`, as client `id` with a persistent
    /// session (`-c`), so messages published while it is away are delivered when it
    /// returns. Returns once the broker has the subscription.
    pub fn start(port: u16, filters: &[&str], session: Option<&str>) -> Sub {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(peer::binary("mosquitto_sub", INSTALL));
        cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "2"])
            .args(["-F", "%t %q %r %p"]);
        if let Some(id) = session {
            cmd.args(["-i", id, "-c"]);
        }
        for f in filters {
            cmd.args(["-t", f]);
        }
        // A probe topic of its own: once a probe published there comes back, the broker
        // has the subscriptions.
        let probe = format!(
            "outpost-test/probe/{}",
            dir.path().file_name().unwrap().to_string_lossy()
        );
        cmd.args(["-t", &probe]);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("sub.stderr")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start mosquitto_sub: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut process =
            Process::adopt_logged("mosquitto_sub", child, dir.path().join("sub.stderr"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (l2, seen2, probe2) = (lines.clone(), seen.clone(), probe.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut it = line.splitn(4, ' ');
                let (Some(topic), Some(qos), Some(retain)) = (it.next(), it.next(), it.next())
                else {
                    continue;
                };
                let (Ok(qos), Ok(retain)) = (qos.parse::<u8>(), retain.parse::<u8>()) else {
                    continue;
                };
                // The probes are the harness's, not the test's.
                if topic == probe2 {
                    seen2.store(true, std::sync::atomic::Ordering::SeqCst);
                    continue;
                }
                l2.lock().unwrap().push(Received {
                    topic: topic.to_owned(),
                    qos,
                    retained: retain == 1,
                    payload: it.next().unwrap_or_default().to_owned(),
                });
            }
        });
        let mut sent = std::time::Instant::now() - Duration::from_secs(1);
        wait_until(
            "mosquitto_sub's subscriptions",
            Duration::from_secs(10),
            || {
                process.assert_running();
                if seen.load(std::sync::atomic::Ordering::SeqCst) {
                    return true;
                }
                if sent.elapsed() >= Duration::from_millis(200) {
                    publish(port, &probe, "probe", 1);
                    sent = std::time::Instant::now();
                }
                false
            },
        );
        Sub {
            process: Some(process),
            lines,
            _dir: dir,
        }
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits (at most `within`) for a message `pick` accepts, and returns it.
    pub fn wait(&self, what: &str, within: Duration, pick: impl Fn(&Received) -> bool) -> Received {
        let mut found = None;
        wait_until(what, within, || {
            found = self.received().into_iter().find(|r| pick(r));
            found.is_some()
        });
        found.unwrap()
    }

    /// Stops it (its persistent session, if any, stays on the broker).
    pub fn stop(&mut self) {
        self.process.take();
    }
}

/// Publishes one message with `mosquitto_pub` at `qos`, not retained.
pub fn publish(port: u16, topic: &str, payload: &str, qos: u8) {
    let out = Command::new(peer::binary("mosquitto_pub", INSTALL))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            &qos.to_string(),
        ])
        .args(["-t", topic, "-m", payload])
        .output()
        .unwrap();
    assert!(out.status.success(), "mosquitto_pub: {out:?}");
}
