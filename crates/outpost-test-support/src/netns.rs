//! Network namespaces and veth pairs a test creates for itself (the ICMP suites): a
//! namespace per role (the prober, a host, a router), linked by veth pairs with IPv4 and
//! IPv6 addresses, deleted on drop. Code runs inside one either as a closure (on a thread
//! moved into the namespace, with its own tokio runtime) or as a process (`ip netns exec`).
//!
//! Needs root (`ip netns add`); a test that is not root panics saying so. Names are unique
//! per process and call, so suites run in parallel.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::peer::{self, Process};

static NEXT: AtomicU32 = AtomicU32::new(0);

fn ip_binary() -> PathBuf {
    peer::binary("ip", "iproute2 (Debian's base system)")
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Panics unless the test runs as root: namespaces, veth pairs and sysctls need it.
pub fn require_root() {
    let uid = rustix::process::geteuid();
    assert!(
        uid.is_root(),
        "this test creates network namespaces and must run as root (euid is {})",
        uid.as_raw()
    );
}

/// A network namespace, deleted (with its interfaces) on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// A fresh namespace whose loopback is up. `tag` names it in `ip netns list`.
    pub fn new(tag: &str) -> Netns {
        require_root();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("op-{tag}-{}-{n}", std::process::id());
        run(Command::new(ip_binary()).args(["netns", "add", &name]));
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS...`, panicking on failure.
    pub fn ip(&self, args: &[&str]) {
        run(Command::new(ip_binary())
            .args(["-n", &self.name])
            .args(args));
    }

    /// Sets a sysctl inside the namespace (`net.*` keys are per namespace).
    pub fn sysctl(&self, key: &str, value: &str) {
        let sysctl = peer::binary("sysctl", "procps");
        run(Command::new(ip_binary())
            .args(["netns", "exec", &self.name])
            .arg(sysctl)
            .arg("-qw")
            .arg(format!("{key}={value}")));
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(ip_binary());
        c.args(["netns", "exec", &self.name]).arg(program);
        c.stdin(Stdio::null());
        c
    }

    /// Starts `program ARGS` inside the namespace as a [`Process`] (killed on drop; its
    /// stderr in `dir`).
    pub fn spawn(&self, name: &str, program: &str, args: &[&str], dir: &Path) -> Process {
        let mut c = self.command(program);
        c.args(args);
        Process::spawn(name, c, dir)
    }

    /// Moves the calling thread into the namespace for good (use it on a thread of the
    /// test's own, such as a test peer's).
    pub fn enter(&self) {
        enter(&self.name);
    }

    /// A name-only handle for another thread to [`Borrowed::enter`].
    pub fn borrow(&self) -> Borrowed {
        Borrowed::new(&self.name)
    }

    /// Runs `f` on a thread moved into the namespace, with its own current-thread tokio
    /// runtime (sockets opened there belong to the namespace), and returns its value.
    pub fn run<T, F, Fut>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T>,
    {
        let ns = self.borrow();
        std::thread::spawn(move || {
            ns.enter();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(f())
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

fn enter(name: &str) {
    let path = format!("/run/netns/{name}");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    rustix::thread::move_into_link_name_space(
        file.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .unwrap_or_else(|e| panic!("setns into {path}: {e}"));
}

/// A namespace's name, `Send`, for a thread to enter; the [`Netns`] it came from still owns
/// (and deletes) the namespace.
#[derive(Debug, Clone)]
pub struct Borrowed {
    name: String,
}

impl Borrowed {
    pub fn new(name: &str) -> Borrowed {
        Borrowed {
            name: name.to_string(),
        }
    }

    /// Moves the calling thread into the namespace for good.
    pub fn enter(&self) {
        enter(&self.name);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Best effort: a failing delete must not turn a test's own failure into an abort.
        let _ = Command::new(ip_binary())
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// The addresses of one veth link: `a` on the first namespace's end, `b` on the other's.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub a4: Ipv4Addr,
    pub b4: Ipv4Addr,
    pub a6: Ipv6Addr,
    pub b6: Ipv6Addr,
}

impl Link {
    pub fn a(&self, v6: bool) -> IpAddr {
        if v6 {
            self.a6.into()
        } else {
            self.a4.into()
        }
    }
    pub fn b(&self, v6: bool) -> IpAddr {
        if v6 {
            self.b6.into()
        } else {
            self.b4.into()
        }
    }
}

/// Links `a` and `b` with a veth pair on subnet `10.<net>.0.0/24` and `fd00:<net>::/64`
/// (`.1`/`::1` on `a`'s end `vA<net>`, `.2`/`::2` on `b`'s end `vB<net>`). Namespaces are
/// private, so every test may reuse the same `net` numbers. IPv6 addresses skip duplicate
/// address detection so they are usable at once.
pub fn link(a: &Netns, b: &Netns, net: u8) -> Link {
    let (ea, eb) = (format!("vA{net}"), format!("vB{net}"));
    a.ip(&[
        "link",
        "add",
        &ea,
        "type",
        "veth",
        "peer",
        "name",
        &eb,
        "netns",
        b.name(),
    ]);
    let l = Link {
        a4: Ipv4Addr::new(10, net, 0, 1),
        b4: Ipv4Addr::new(10, net, 0, 2),
        a6: Ipv6Addr::new(0xfd00, u16::from(net), 0, 0, 0, 0, 0, 1),
        b6: Ipv6Addr::new(0xfd00, u16::from(net), 0, 0, 0, 0, 0, 2),
    };
    for (ns, dev, v4, v6) in [(a, &ea, l.a4, l.a6), (b, &eb, l.b4, l.b6)] {
        ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", dev]);
        ns.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{v6}/64"),
            "dev",
            dev,
            "nodad",
        ]);
        ns.ip(&["link", "set", dev, "up"]);
    }
    // A packet sent before both ends have carrier is lost, and with it IPv6's first
    // neighbour solicitation (retried only a second later): wait for carrier on both.
    for (ns, dev) in [(a, &ea), (b, &eb)] {
        crate::wait::wait_until(
            &format!("carrier on {dev} in {}", ns.name()),
            Duration::from_secs(10),
            || {
                let out = Command::new(ip_binary())
                    .args(["-n", ns.name(), "-o", "link", "show", "dev", dev])
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                text.contains("LOWER_UP") && text.contains("state UP")
            },
        );
    }
    l
}

/// An agent's namespace whose default route leads into a peer namespace standing for the
/// outside world: the peer holds `addrs` on its loopback (servers bind there), the agent's
/// default route is the link to it. Cutting that route is "the uplink is down".
pub struct Internet {
    pub agent: Netns,
    pub peer: Netns,
    pub link: Link,
}

impl Internet {
    /// Namespaces `TAG-a` and `TAG-p` linked on subnet 10.1.0.0/24 (the agent is `.1`,
    /// its gateway `.2`).
    pub fn new(tag: &str, addrs: &[&str]) -> Internet {
        let agent = Netns::new(&format!("{tag}-a"));
        let peer = Netns::new(&format!("{tag}-p"));
        let link = link(&agent, &peer, 1);
        for addr in addrs {
            peer.ip(&["addr", "add", &format!("{addr}/32"), "dev", "lo"]);
        }
        agent.ip(&["route", "add", "default", "via", &link.b4.to_string()]);
        Internet { agent, peer, link }
    }

    /// Python's `http.server` in the peer on `addr:port`, serving `www` (Debian's own
    /// Python: a pyenv one under /root may not be on the namespace's PATH).
    pub fn http_server(
        &self,
        name: &str,
        addr: &str,
        port: u16,
        www: &Path,
        dir: &Path,
    ) -> Process {
        let python = peer::binary("python3", "scripts/deps/10-base.sh");
        self.peer.spawn(
            name,
            python.to_str().unwrap(),
            &[
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                addr,
                "--directory",
                www.to_str().unwrap(),
            ],
            dir,
        )
    }

    /// Waits, from the agent's namespace, until every `host:port` accepts TCP (an agent
    /// started earlier would see its first round fail).
    pub fn wait_accepting(&self, addrs: &[String]) {
        let addrs = addrs.to_vec();
        self.agent.run(move || async move {
            for addr in addrs {
                crate::wait::wait_for(
                    &format!("{addr} to accept"),
                    Duration::from_secs(15),
                    || async { tokio::net::TcpStream::connect(addr.as_str()).await.is_ok() },
                )
                .await;
            }
        });
    }
}
