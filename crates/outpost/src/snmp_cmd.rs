//! `outpost snmp ...`: net-snmp's command-line tools on `outpost-snmp`'s engine.
//!
//! The arguments reach here raw (net-snmp flags like `-v2c` or `-Cr10` do not fit clap) and
//! go to [`outpost_snmp::cli::run_cli`], which parses them once and runs them. That runner
//! also draws the progress count on stderr during long walks, only when stderr is a terminal.

use std::io::Write;
use std::process::ExitCode;

use outpost_snmp::cli::{run_cli, CliError, USAGE};

/// Runs one command; exit 0 ok, 1 runtime failure, 2 bad usage.
pub fn run(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("outpost snmp: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let res = rt.block_on(run_cli(args, &mut out));
    let res = res.and_then(|()| out.flush().map_err(CliError::from));
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(m)) => {
            eprintln!("outpost snmp: {m}\n{USAGE}");
            ExitCode::from(2)
        }
        // The reader went away (`| head`): what it wanted, it got.
        Err(CliError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            // Whatever was printed before the failure stays printed, as with net-snmp.
            let _ = out.flush();
            eprintln!("outpost snmp: {e}");
            ExitCode::from(1)
        }
    }
}
