//! `outpost traps listen`: print notifications as they arrive, without the daemon and its
//! store. Same sockets, filter and normalization as the daemon; informs are acknowledged
//! after the line is written.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use secrecy::SecretSlice;
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::TrapsCommand;
use crate::trap::{self, config::Cidr, Receiver, Sink, TrapMetrics, TrapSettings};

pub fn run(cmd: TrapsCommand) -> anyhow::Result<()> {
    let TrapsCommand::Listen(a) = cmd;
    let addrs: Vec<IpAddr> = if a.listen.is_empty() {
        vec!["0.0.0.0".parse()?, "::".parse()?]
    } else {
        a.listen.clone()
    };
    let communities = if a.community.is_empty() {
        Some(vec![SecretSlice::from(b"public".to_vec())])
    } else if a.community.iter().any(|c| c == "*") {
        None
    } else {
        Some(
            a.community
                .iter()
                .map(|c| SecretSlice::from(c.as_bytes().to_vec()))
                .collect(),
        )
    };
    let settings = TrapSettings {
        listen: addrs
            .iter()
            .map(|ip| SocketAddr::new(*ip, a.port))
            .collect(),
        communities,
        networks: vec![Cidr::parse("0.0.0.0/0")?, Cidr::parse("::/0")?],
        users: vec![],
        recv_buffer_bytes: 8 << 20,
        // The daemon's default: over a second of a 50k/s flood, which outlasts the stalls
        // of a file being written back; output that stalls longer (a paused pipe) costs
        // counted drops, not memory (a notification waiting is well under 1 KiB).
        queue_capacity: 65536,
        log: false,
        engine_id: trap::engine_id("outpost-traps-listen"),
        // No data directory to keep a count in: informs to this listener see boots 1.
        engine_boots: 1,
        mib: Some(std::sync::Arc::new(outpost_snmp::mib::Mib::builtin())),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let metrics = TrapMetrics::default();
        let rx = Receiver::start(settings, Sink::Print { json: a.json }, metrics.clone())?;
        for addr in &rx.addrs {
            eprintln!("outpost traps: listening on udp:{addr}");
        }
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        // Drops are said on stderr as they happen (at most once a second), not only at exit.
        let mut tick = tokio::time::interval(DROP_REPORT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut said = 0;
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = tick.tick() => {
                    let c = Counts::read(&metrics);
                    if c.dropped() > said {
                        said = c.dropped();
                        eprintln!("outpost traps: {} so far", c.summary());
                    }
                }
            }
        }
        rx.stop().await;
        eprintln!("outpost traps: {}", Counts::read(&metrics).summary());
        Ok(())
    })
}

/// How often `traps listen` checks for new drops to report.
const DROP_REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The listener's figures: every datagram that reached its sockets is printed (accepted),
/// dropped with a reason, or dropped by the kernel (receive buffer full).
struct Counts {
    accepted: u64,
    /// By reason, those that happened.
    reasons: Vec<(&'static str, u64)>,
    kernel: u64,
}

impl Counts {
    fn read(m: &TrapMetrics) -> Counts {
        use trap::DropReason as R;
        let reasons = [
            R::QueueFull,
            R::Malformed,
            R::Community,
            R::SourceNetwork,
            R::UnknownUser,
            R::AuthFailure,
            R::NotNotification,
            R::NotInTimeWindow,
            R::StoreError,
        ]
        .iter()
        .map(|r| (r.as_str(), m.dropped(*r)))
        .filter(|(_, n)| *n > 0)
        .collect();
        Counts {
            accepted: m.accepted.get(),
            reasons,
            kernel: m.sockets.total(),
        }
    }

    fn dropped(&self) -> u64 {
        self.reasons.iter().map(|(_, n)| n).sum::<u64>() + self.kernel
    }

    /// `N accepted, M dropped (queue_full 3, kernel 2, ...)`; `store_error` is a failed
    /// write to standard output here.
    fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut s = format!("{} accepted, {} dropped", self.accepted, self.dropped());
        let mut parts: Vec<String> = self
            .reasons
            .iter()
            .map(|(r, n)| match *r {
                "store_error" => format!("output_error {n}"),
                _ => format!("{r} {n}"),
            })
            .collect();
        if self.kernel > 0 {
            parts.push(format!("kernel {}", self.kernel));
        }
        if !parts.is_empty() {
            let _ = write!(s, " ({})", parts.join(", "));
        }
        s
    }
}
