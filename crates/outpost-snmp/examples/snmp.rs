//! `cargo run --example snmp -- bulkwalk -v2c -c public 127.0.0.1:1161 .1`
//! The same runner `outpost snmp ...` wraps; used by bench/snmp.
use std::io::Write;
use std::process::ExitCode;

use outpost_snmp::cli::{run_cli, CliError, USAGE};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let r = run_cli(&args, &mut out).await;
    let _ = out.flush();
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(m)) => {
            eprintln!("{m}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
