//! Start-up to `/healthz` ready, then idle RSS and idle CPU of `outpost run`.
//! Usage: startup PATH_TO_OUTPOST [RUNS] [IDLE_SECS]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use outpost_bench::{cpu_ticks, median, rss_kib};
use outpost_test_support::ports::free_tcp_port as free_port;

fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = args
        .get(1)
        .expect("usage: startup PATH_TO_OUTPOST [RUNS] [IDLE_SECS]");
    let runs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let idle_secs: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(30);
    let mut ready_ms = vec![];
    for i in 0..=runs {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let t = Instant::now();
        let mut child = Command::new(bin)
            .args(["run", "--data-dir"])
            .arg(dir.path())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while !healthy(port) {
            assert!(t.elapsed() < Duration::from_secs(10), "not ready in 10 s");
            std::hint::spin_loop();
        }
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        // Run 0 is a first start (generates the token, creates the store); report it apart.
        if i == 0 {
            println!("first start (fresh data dir): ready in {ms:.1} ms");
        } else {
            ready_ms.push(ms);
        }
        if i == runs {
            let pid = child.id();
            let t0 = cpu_ticks(pid).unwrap();
            let r0 = rss_kib(pid).unwrap();
            let end = Instant::now() + Duration::from_secs(idle_secs);
            while Instant::now() < end {
                std::thread::park_timeout(end - Instant::now());
            }
            let t1 = cpu_ticks(pid).unwrap();
            let r1 = rss_kib(pid).unwrap();
            println!(
                "idle RSS: {:.1} MiB right after ready, {:.1} MiB after {idle_secs} s idle",
                r0 as f64 / 1024.0,
                r1 as f64 / 1024.0
            );
            println!("idle CPU: {} ticks over {idle_secs} s", t1 - t0);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    println!(
        "ready: median {:.1} ms over {runs} starts (fresh process, existing data dir)",
        median(ready_ms)
    );
}
