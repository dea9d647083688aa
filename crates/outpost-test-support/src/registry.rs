//! A container image registry of the test's own: Debian's `docker-registry` (the CNCF
//! distribution registry 2.8) on an ephemeral loopback port with its storage in a
//! temporary directory, ready once `GET /v2/` answers 200. Engines treat 127.0.0.0/8
//! registries as insecure-allowed, so plain HTTP works without engine settings.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::dockerd::INSTALL;
use crate::peer::{self, Process};
use crate::ports::free_tcp_port;
use crate::wait::wait_until;

pub struct Registry {
    process: Process,
    /// `127.0.0.1:PORT`, the prefix of image references in it.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry and waits, up to 30 s, for `/v2/`.
    pub fn start() -> Registry {
        let bin = peer::binary("docker-registry", INSTALL);
        let mut last = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_tcp_port();
            let addr = format!("127.0.0.1:{port}");
            let conf = dir.path().join("config.yml");
            std::fs::write(
                &conf,
                format!(
                    "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                    dir.path().join("data").display()
                ),
            )
            .unwrap();
            let mut cmd = Command::new(&bin);
            cmd.arg("serve").arg(&conf);
            let mut r = Registry {
                process: Process::spawn("docker-registry", cmd, dir.path()),
                addr,
                _dir: dir,
            };
            let mut exited = false;
            let a = r.addr.clone();
            wait_until(
                "docker-registry to answer /v2/",
                Duration::from_secs(30),
                || {
                    exited = r.process.exited().is_some();
                    exited || v2_ok(&a)
                },
            );
            if !exited {
                return r;
            }
            // Port taken between probe and bind: try another.
            last = r.process.stderr();
        }
        panic!("docker-registry did not start after 5 attempts; the last one said:\n{last}");
    }
}

fn v2_ok(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET /v2/ HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
}
