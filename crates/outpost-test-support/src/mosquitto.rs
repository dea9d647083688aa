//! A real Mosquitto broker on an ephemeral loopback port, restartable with its persistence.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::peer::{self, Process};
use crate::ports::free_tcp_port;
use crate::wait::wait_until;

pub struct Broker {
    // First: killed before its directory is removed.
    process: Option<Process>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    extra: String,
}

impl Broker {
    pub fn start() -> Broker {
        Self::start_with("allow_anonymous true\n")
    }

    /// A broker with `extra` lines appended to its config (listeners, auth, TLS).
    pub fn start_with(extra: &str) -> Broker {
        let mut b = Broker {
            process: None,
            port: free_tcp_port(),
            dir: tempfile::tempdir().unwrap(),
            extra: extra.to_owned(),
        };
        b.launch();
        b
    }

    /// Mosquitto's own log: who connected, with which protocol version.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }

    fn launch(&mut self) {
        let conf = format!(
            "# Stay root: mosquitto otherwise drops to its own user, which cannot write the\n# persistence into this root-owned temporary directory, and restarts lose sessions.\nuser root\nlistener {} 127.0.0.1\npersistence true\npersistence_location {}/\nmax_queued_messages 0\nmax_inflight_messages 0\nlog_dest file {}/log\n{}",
            self.port,
            self.dir.path().display(),
            self.dir.path().display(),
            self.extra
        );
        std::fs::write(self.conf(), conf).unwrap();
        let mut cmd = Command::new(peer::binary("mosquitto", "scripts/deps/40-uplink.sh"));
        cmd.arg("-c").arg(self.conf());
        let mut process = Process::spawn("mosquitto", cmd, self.dir.path());
        // Every listener the config names, not only the first: mosquitto binds them one
        // after another, so the first accepting says nothing about an extra one a test
        // subscribes on (a red CI run raced exactly that).
        let mut ports = vec![self.port];
        ports.extend(self.extra.lines().filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("listener"))
                .then(|| w.next().and_then(|p| p.parse::<u16>().ok()))
                .flatten()
        }));
        wait_until(
            &format!("mosquitto to listen on {ports:?}"),
            Duration::from_secs(10),
            || {
                process.assert_running();
                ports
                    .iter()
                    .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
            },
        );
        self.process = Some(process);
    }

    /// Graceful stop (mosquitto saves its persistence) and start again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.terminate(Duration::from_secs(10));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Ok(keep) = std::env::var("OUTPOST_TEST_KEEP_BROKER_LOG") {
            let _ = std::fs::copy(self.dir.path().join("log"), keep);
        }
        // Kills and reaps the broker (if running) before the directory goes.
        self.process.take();
    }
}
