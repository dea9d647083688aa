//! A real Mosquitto broker on an ephemeral loopback port, restartable with its persistence.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct Broker {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    extra: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Broker {
    pub fn start() -> Broker {
        Self::start_with("allow_anonymous true\n")
    }

    pub fn start_with(extra: &str) -> Broker {
        let mut b = Broker {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
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
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.conf())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is not installed: run scripts/test, which installs it");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < end,
                "mosquitto did not listen on {} within 10 s",
                self.port
            );
            std::thread::park_timeout(Duration::from_millis(10));
        }
    }

    /// Graceful stop (mosquitto saves its persistence) and start again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            rustix::process::kill_process(
                rustix::process::Pid::from_raw(c.id() as i32).unwrap(),
                rustix::process::Signal::TERM,
            )
            .unwrap();
            let end = Instant::now() + Duration::from_secs(10);
            while c.try_wait().unwrap().is_none() {
                assert!(Instant::now() < end, "mosquitto did not stop");
                std::thread::park_timeout(Duration::from_millis(10));
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Ok(keep) = std::env::var("OUTPOST_TEST_KEEP_BROKER_LOG") {
            let _ = std::fs::copy(self.dir.path().join("log"), keep);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
