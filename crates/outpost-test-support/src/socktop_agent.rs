//! socktop's own agent (`socktop_agent`, installed by cargo), the reference for Outpost's
//! `/ws`. It binds 0.0.0.0; tests only ever connect to it on 127.0.0.1.

use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use crate::peer::{self, Process};
use crate::wait::wait_until;

/// A running socktop_agent; killed by PID on drop.
pub struct SocktopAgent {
    // Kept for its Drop: kills socktop_agent with the harness.
    _process: Process,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl SocktopAgent {
    /// Starts it on a port free on all addresses and waits (up to 20 s) until it listens.
    pub fn start() -> SocktopAgent {
        let bin = peer::binary(
            "socktop_agent",
            "scripts/deps/50-socktop.sh (cargo install socktop_agent --version 1.60.1)",
        );
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("0.0.0.0:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(bin);
        cmd.args(["--port", &port.to_string()]);
        let mut process = Process::spawn("socktop_agent", cmd, dir.path());
        wait_until("socktop_agent to listen", Duration::from_secs(20), || {
            process.assert_running();
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        SocktopAgent {
            _process: process,
            port,
            _dir: dir,
        }
    }

    /// Its WebSocket URL (no token: socktop_agent runs without one here).
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }
}
