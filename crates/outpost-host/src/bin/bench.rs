//! Benchmark helper for bench/host/: a WebSocket load client for any
//! socktop-style `/ws` endpoint, and a bare server that answers frames with
//! `outpost_host::socktop::answer`, so the crate can be measured before the
//! `outpost` binary wires it.
//!
//! outpost-host-bench load URL REQUEST SECONDS
//! outpost-host-bench serve PORT [METRICS_TTL_MS [PROCESSES_TTL_MS]]
//! outpost-host-bench connector-check URL   (decode with socktop_connector)

use futures_util::{SinkExt, StreamExt};
use outpost_host::socktop::{answer, answer_request, cached_reply, parse_request, Frame, Reply};
use outpost_host::{Host, HostConfig};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const USAGE: &str =
    "usage: outpost-host-bench load URL REQUEST SECONDS | serve PORT [METRICS_TTL_MS]";

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("load") if args.len() == 4 => {
            let secs: u64 = args[3].parse()?;
            rt.block_on(load(&args[1], &args[2], Duration::from_secs(secs)))
        }
        Some("serve") if args.len() >= 2 => {
            let port: u16 = args[1].parse()?;
            let mut config = HostConfig::default();
            if let Some(ms) = args.get(2) {
                config.metrics_ttl = Duration::from_millis(ms.parse()?);
            }
            if let Some(ms) = args.get(3) {
                config.processes_ttl = Duration::from_millis(ms.parse()?);
            }
            rt.block_on(serve(port, Host::new(config)))
        }
        Some("connector-check") if args.len() == 2 => rt.block_on(connector_check(&args[1])),
        _ => Err(USAGE.into()),
    }
}

/// Sends REQUEST, waits for its reply, repeats for the duration on one
/// connection (socktop's client is request/response too). Prints req/s.
async fn load(url: &str, request: &str, dur: Duration) -> Result<(), Box<dyn std::error::Error>> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let start = Instant::now();
    let (mut n, mut bytes) = (0u64, 0u64);
    while start.elapsed() < dur {
        ws.send(Message::text(request)).await?;
        match ws.next().await {
            Some(Ok(Message::Text(t))) => bytes += t.len() as u64,
            Some(Ok(Message::Binary(b))) => bytes += b.len() as u64,
            Some(Ok(other)) => return Err(format!("unexpected frame {other:?}").into()),
            Some(Err(e)) => return Err(e.into()),
            None => return Err("connection closed".into()),
        }
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{request} {:.0} req/s ({n} in {secs:.1} s, {:.0} bytes/reply)",
        n as f64 / secs,
        bytes as f64 / n.max(1) as f64
    );
    Ok(())
}

/// One task per connection; every frame is answered from the host's caches.
async fn serve(port: u16, host: Host) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (sock, _) = listener.accept().await?;
        let host = host.clone();
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(sock).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                // As the binary's /ws: a fresh cached frame inline, else collect.
                let reply = match &msg {
                    Message::Text(t) => match parse_request(Frame::Text(t.as_str())) {
                        Ok(r) => cached_reply(&host, r).unwrap_or_else(|| answer_request(&host, r)),
                        Err(_) => answer(&host, Frame::Text(t.as_str())),
                    },
                    Message::Binary(b) => answer(&host, Frame::Binary(b)),
                    Message::Close(_) => break,
                    _ => continue,
                };
                let out = match reply {
                    Reply::Text(t) => match t.into_bytes().try_into() {
                        Ok(text) => Message::Text(text),
                        Err(_) => break,
                    },
                    Reply::Binary(b) => Message::binary(b),
                };
                if ws.send(out).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// Asks an agent for metrics, disks and processes through socktop's own
/// connector library: what socktop's TUI would see.
async fn connector_check(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut c = socktop_connector::connect_to_socktop_agent(url).await?;
    use socktop_connector::{AgentRequest, AgentResponse};
    let AgentResponse::Metrics(m) = c.request(AgentRequest::Metrics).await? else {
        return Err("metrics: unexpected response".into());
    };
    println!(
        "metrics: host {} cpu {:.1}% over {} cores, mem {}/{} B, swap {}/{} B, {} interfaces, cpu temp {:?}, gpus {:?}",
        m.hostname,
        m.cpu_total,
        m.cpu_per_core.len(),
        m.mem_used,
        m.mem_total,
        m.swap_used,
        m.swap_total,
        m.networks.len(),
        m.cpu_temp_c,
        m.gpus.as_ref().map(Vec::len),
    );
    let AgentResponse::Disks(d) = c.request(AgentRequest::Disks).await? else {
        return Err("disks: unexpected response".into());
    };
    for disk in &d {
        println!(
            "disk: {} total {} available {} partition {}",
            disk.name, disk.total, disk.available, disk.is_partition
        );
    }
    let AgentResponse::Processes(p) = c.request(AgentRequest::Processes).await? else {
        return Err("processes: unexpected response".into());
    };
    println!(
        "processes: count {} rows {}",
        p.process_count,
        p.top_processes.len()
    );
    if p.top_processes.is_empty() || m.cpu_per_core.is_empty() {
        return Err("empty reply".into());
    }
    Ok(())
}
