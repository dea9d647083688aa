//! Debian's `dnsmasq` as the DNS server of the `check.dns` suite, as `shared/peers.md` runs
//! it: no daemon, no upstream (`--no-resolv`), no /etc/hosts, no config file, on an
//! ephemeral loopback port (UDP and TCP), serving only the records the test gives
//! (`--address`, `--host-record`, `--cname`, `--mx-host`, `--txt-record`, `--srv-host`,
//! `--ptr-record`, ...). `--local=/test/` makes every other name under `test` NXDOMAIN.

use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::peer::{self, Process};
use crate::ports::free_port;
use crate::wait::wait_until;

pub const INSTALL: &str = "scripts/deps/60-probes.sh";

/// A running dnsmasq; killed by PID on drop.
pub struct Dnsmasq {
    process: Process,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Dnsmasq {
    /// Starts dnsmasq with these record options (each a whole `--option=value`) and waits,
    /// up to 10 s, until it accepts TCP on its port.
    pub fn start(records: &[&str]) -> Dnsmasq {
        let bin = peer::binary("dnsmasq", INSTALL);
        let mut last = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let mut cmd = Command::new(&bin);
            cmd.args([
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--conf-file=/dev/null",
                "--pid-file=",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--local=/test/",
                "--log-facility=-",
            ])
            .arg(format!("--port={port}"))
            .args(records);
            let mut d = Dnsmasq {
                process: Process::spawn("dnsmasq", cmd, dir.path()),
                port,
                _dir: dir,
            };
            let mut exited = false;
            wait_until("dnsmasq to listen", Duration::from_secs(10), || {
                exited = d.process.exited().is_some();
                exited || TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            if !exited {
                return d;
            }
            // Port taken between probe and bind, or a bad option: show it if it repeats.
            last = d.process.stderr();
        }
        panic!("dnsmasq did not start after 5 attempts; the last one said:\n{last}");
    }

    /// `127.0.0.1:PORT`, the form `check.dns`'s `server` takes.
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its log so far (`--log-facility=-` sends it to stderr).
    pub fn log(&self) -> String {
        self.process.stderr()
    }
}
