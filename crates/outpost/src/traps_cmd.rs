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
        networks: vec![
            Cidr::parse("0.0.0.0/0").map_err(anyhow::Error::msg)?,
            Cidr::parse("::/0").map_err(anyhow::Error::msg)?,
        ],
        users: vec![],
        recv_buffer_bytes: 8 << 20,
        queue_capacity: 4096,
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
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        rx.stop().await;
        eprintln!(
            "outpost traps: {} accepted, {} dropped (community {}, malformed {})",
            metrics.accepted.get(),
            [
                trap::DropReason::Malformed,
                trap::DropReason::Community,
                trap::DropReason::SourceNetwork,
                trap::DropReason::UnknownUser,
                trap::DropReason::AuthFailure,
                trap::DropReason::NotNotification,
                trap::DropReason::QueueFull,
                trap::DropReason::StoreError,
                trap::DropReason::NotInTimeWindow,
            ]
            .iter()
            .map(|r| metrics.dropped(*r))
            .sum::<u64>(),
            metrics.dropped(trap::DropReason::Community),
            metrics.dropped(trap::DropReason::Malformed),
        );
        Ok(())
    })
}
