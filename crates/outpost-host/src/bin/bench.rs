//! Benchmark helper for bench/host/: a WebSocket load client for any
//! socktop-style `/ws` endpoint, and a bare server that answers frames with
//! `outpost_host::socktop::answer`, so the crate can be measured before the
//! `outpost` binary wires it.
//!
//! outpost-host-bench load URL REQUEST SECONDS
//! outpost-host-bench serve PORT [METRICS_TTL_MS]

use futures_util::{SinkExt, StreamExt};
use outpost_host::socktop::{answer, Frame, Reply};
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
            rt.block_on(serve(port, Host::new(config)))
        }
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
                let reply = match &msg {
                    Message::Text(t) => answer(&host, Frame::Text(t.as_str())),
                    Message::Binary(b) => answer(&host, Frame::Binary(b)),
                    Message::Close(_) => break,
                    _ => continue,
                };
                let out = match reply {
                    Reply::Text(t) => Message::text(t),
                    Reply::Binary(b) => Message::binary(b),
                };
                if ws.send(out).await.is_err() {
                    break;
                }
            }
        });
    }
}
