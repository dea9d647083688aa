//! The local HTTP server of bench/probes/http_checks.py: the tests' own server
//! (`outpost_test_support::https::WebServer`, plain HTTP, `connection: close`) on one thread,
//! so both sides of the benchmark check the same cheap peer and it is never the bottleneck
//! of either. Prints its port on stdout, then serves until stdin closes.
//!
//! Usage: http_check_server

use std::io::Read;

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let server = outpost_test_support::https::WebServer::start_plain().await;
        println!("{}", server.port);
        // Serve until the benchmark closes our stdin (or exits).
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await?;
        drop(server);
        Ok(())
    })
}
