//! socktop's own client library (socktop_connector, used by its TUI) talks
//! to a WebSocket server that answers with `socktop::answer`, as the
//! `outpost` binary's `/ws` does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures_util::{SinkExt, StreamExt};
use outpost_host::socktop::{answer, Frame, Reply};
use outpost_host::Host;
use socktop_connector::{AgentRequest, AgentResponse};
use tokio_tungstenite::tungstenite::Message;

async fn serve(host: Host) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let host = host.clone();
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(sock).await.unwrap();
                while let Some(Ok(msg)) = ws.next().await {
                    let reply = match &msg {
                        Message::Text(t) => answer(&host, Frame::Text(t.as_str())),
                        Message::Binary(b) => answer(&host, Frame::Binary(b)),
                        _ => break,
                    };
                    let out = match reply {
                        Reply::Text(t) => Message::Text(t.into_bytes().try_into().unwrap()),
                        Reply::Binary(b) => Message::binary(b),
                    };
                    if ws.send(out).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn socktop_connector_reads_our_replies() {
    let host = Host::default();
    let url = serve(host.clone()).await;
    let mut c = socktop_connector::connect_to_socktop_agent(url)
        .await
        .unwrap();

    let AgentResponse::Metrics(m) = c.request(AgentRequest::Metrics).await.unwrap() else {
        panic!("not metrics")
    };
    let ours = host.metrics().unwrap();
    assert_eq!(m.mem_total, ours.memory.total_bytes);
    assert_eq!(m.cpu_per_core.len(), ours.cpu.per_core_percent.len());
    assert_eq!(m.hostname, ours.hostname);
    assert_eq!(m.sampled_at_ms, Some(ours.sampled_at_ms));
    assert_eq!(m.networks.len(), ours.networks.len());

    let AgentResponse::Disks(d) = c.request(AgentRequest::Disks).await.unwrap() else {
        panic!("not disks")
    };
    let real = host.disks().unwrap();
    for disk in &d {
        assert!(disk.available <= disk.total);
        // Each row is a mounted device or a disk synthesised from its partitions.
        let mounted = real.iter().any(|r| r.device == disk.name);
        let parent = d
            .iter()
            .any(|p| p.is_partition && p.name.starts_with(&disk.name));
        assert!(mounted || parent, "{disk:?}");
    }
    let non_tmpfs = real.iter().filter(|r| r.fs_type != "tmpfs").count();
    assert_eq!(d.is_empty(), non_tmpfs == 0);

    let AgentResponse::Processes(p) = c.request(AgentRequest::Processes).await.unwrap() else {
        panic!("not processes")
    };
    assert_eq!(p.process_count, p.top_processes.len());
    assert!(p.top_processes.iter().any(|r| r.pid == std::process::id()));
}
