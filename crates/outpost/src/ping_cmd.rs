//! `outpost ping ...`: fping 5.1's interface on `outpost-icmp`'s engine.
//!
//! The arguments reach here raw (fping's `-c3`, `-C 5` forms do not fit clap). Output
//! follows fping: "HOST is alive" / "HOST is unreachable" by default (retrying up to 3
//! times with the timeout growing 1.5x, as fping does); with `-c`/`-C` one line per probe on
//! stdout and the summary on stderr; ICMP errors on stderr as they are reported. Exit codes
//! as the issue asks (and fping's manual says): 0 all alive, 1 some unreachable, 2 a name
//! that did not resolve, 3 bad usage, 4 no ICMP socket. Real fping 5.1 exits 1, not 3, on a
//! bad option; we keep 3 so a script can tell usage from loss.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Duration;

use outpost_icmp::{Engine, EngineConfig, Outcome, PingResult, PingSpec};

pub const USAGE: &str = "usage: outpost ping [-c COUNT | -C COUNT] [-p PERIOD_MS] [-t TIMEOUT_MS] [-b BYTES] [-q] [--json] [-g CIDR | -f FILE] [HOST...]
  -c N    send N probes per target; a line per reply, then xmt/rcv/%loss per target
  -C N    as -c, and a summary of every RTT per target (fping -C)
  -p MS   period between probes to one target (default 1000)
  -t MS   timeout of each probe (default 500)
  -b N    payload bytes (default 56; at least 16 are sent)
  -q      quiet: no per-probe lines (summaries only)
  -g CIDR every host address of an IPv4 range (network and broadcast excluded)
  -f FILE targets from FILE, one per line, # comments (- for stdin)
  --json  one JSON object per target instead
Exit codes: 0 all alive, 1 some unreachable, 2 a host not found, 3 bad usage, 4 no ICMP socket.";

/// fping's `-g` cap: a sweep larger than this is almost certainly a typo.
const MAX_GENERATE: u64 = 131_072;

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub count: Option<u32>,
    /// `-C`: print every RTT in the summary.
    pub report_all: bool,
    pub period_ms: u64,
    pub timeout_ms: u64,
    pub bytes: usize,
    pub quiet: bool,
    pub json: bool,
    pub hosts: Vec<String>,
}

fn number<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("option {flag} requires an argument"))?;
    v.parse()
        .map_err(|_| format!("option {flag}: {v:?} is not a valid number"))
}

/// Parses fping's flags; `Err` is a usage message.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        count: None,
        report_all: false,
        period_ms: 1000,
        timeout_ms: 500,
        bytes: 56,
        quiet: false,
        json: false,
        hosts: Vec::new(),
    };
    let (mut gen, mut file) = (None, None);
    let mut it = args.iter().cloned();
    while let Some(a) = it.next() {
        if a == "--json" {
            o.json = true;
            continue;
        }
        if a == "--" {
            o.hosts.extend(it.by_ref());
            break;
        }
        let Some(flag) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            o.hosts.push(a);
            continue;
        };
        let mut chars = flag.chars();
        let c = chars.next().unwrap_or('?');
        let inline: String = chars.collect();
        // -c3 and -c 3 both work, as with getopt.
        let mut value = || {
            if inline.is_empty() {
                it.next()
            } else {
                Some(inline.clone())
            }
        };
        match c {
            'c' | 'C' => {
                let n: u32 = number(&format!("-{c}"), value())?;
                if !(1..=100_000).contains(&n) {
                    return Err(format!("-{c}: count must be 1..=100000"));
                }
                o.count = Some(n);
                o.report_all = c == 'C';
            }
            'p' => o.period_ms = number("-p", value())?,
            't' => o.timeout_ms = number("-t", value())?,
            'b' => o.bytes = number("-b", value())?,
            'g' => gen = Some(value().ok_or("option -g requires an argument")?),
            'f' => file = Some(value().ok_or("option -f requires an argument")?),
            'q' if inline.is_empty() => o.quiet = true,
            _ => return Err(format!("invalid option -- {flag:?}")),
        }
    }
    if o.timeout_ms == 0 || o.timeout_ms > 600_000 {
        return Err("-t: timeout must be 1..=600000 ms".into());
    }
    if o.period_ms > 3_600_000 {
        return Err("-p: period must be at most 3600000 ms".into());
    }
    if o.bytes > 65_000 {
        return Err("-b: at most 65000 bytes".into());
    }
    if gen.is_some() && file.is_some() {
        return Err("-g and -f cannot be combined".into());
    }
    if let Some(cidr) = gen {
        o.hosts
            .extend(generate(&cidr)?.into_iter().map(|a| a.to_string()));
    }
    if let Some(path) = file {
        let text = if path == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(&path)
        }
        .map_err(|e| format!("-f {path}: {e}"))?;
        o.hosts.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .filter_map(|l| l.split_whitespace().next())
                .map(str::to_string),
        );
    }
    if o.hosts.is_empty() {
        return Err("no targets (give HOST..., -g CIDR or -f FILE)".into());
    }
    Ok(o)
}

/// The host addresses of an IPv4 CIDR (network and broadcast excluded below /31).
pub fn generate(cidr: &str) -> Result<Vec<IpAddr>, String> {
    let (net, len) = cidr
        .split_once('/')
        .ok_or_else(|| format!("-g {cidr:?}: expected ADDRESS/PREFIX"))?;
    let net: Ipv4Addr = net
        .parse()
        .map_err(|_| format!("-g {cidr:?}: only IPv4 ranges are supported"))?;
    let len: u32 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("-g {cidr:?}: prefix must be 0..=32"))?;
    let size = 1u64 << (32 - len);
    let base = u64::from(u32::from(net)) & !(size - 1);
    let (first, last) = if len >= 31 {
        (base, base + size - 1)
    } else {
        (base + 1, base + size - 2)
    };
    if last + 1 - first > MAX_GENERATE {
        return Err(format!(
            "-g {cidr:?}: {} addresses, more than {MAX_GENERATE}",
            last + 1 - first
        ));
    }
    Ok((first..=last)
        .filter_map(|a| u32::try_from(a).ok())
        .map(|a| IpAddr::V4(Ipv4Addr::from(a)))
        .collect())
}

/// fping's `sprint_tm`: 3 significant-ish digits of milliseconds.
pub fn fmt_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3}")
    } else if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

fn unreach_text(v6: bool, code: u8) -> String {
    const V4: [&str; 16] = [
        "ICMP Network Unreachable",
        "ICMP Host Unreachable",
        "ICMP Protocol Unreachable",
        "ICMP Port Unreachable",
        "ICMP Unreachable (Fragmentation Needed)",
        "ICMP Unreachable (Source Route Failed)",
        "ICMP Unreachable (Destination Network Unknown)",
        "ICMP Unreachable (Destination Host Unknown)",
        "ICMP Unreachable (Source Host Isolated)",
        "ICMP Unreachable (Communication with Network Prohibited)",
        "ICMP Unreachable (Communication with Host Prohibited)",
        "ICMP Unreachable (Network Unreachable For Type Of Service)",
        "ICMP Unreachable (Host Unreachable For Type Of Service)",
        "ICMP Unreachable (Communication Administratively Prohibited)",
        "ICMP Unreachable (Host Precedence Violation)",
        "ICMP Unreachable (Precedence cutoff in effect)",
    ];
    if v6 {
        return format!("ICMPv6 Destination Unreachable (code {code})");
    }
    V4.get(usize::from(code)).map_or_else(
        || format!("ICMP Unreachable (code {code})"),
        |s| s.to_string(),
    )
}

/// One target as the user named it, and what became of it.
struct Row {
    host: String,
    result: Result<PingResult, String>,
}

/// Runs one command; exit codes as in [`USAGE`].
pub fn run(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let opts = match parse(args) {
        Ok(o) => o,
        Err(m) => {
            eprintln!("outpost ping: {m}\n{USAGE}");
            return ExitCode::from(3);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("outpost ping: cannot start the runtime: {e}");
            return ExitCode::from(4);
        }
    };
    // As a spawned task, not block_on's own future: a reply wakes a spawned task through the
    // run queue, block_on's future through the driver (an eventfd write per wake-up).
    let task = {
        let opts = opts.clone();
        async move { ping_all(&opts).await }
    };
    let rows = match rt.block_on(async { tokio::spawn(task).await }) {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => {
            eprintln!("outpost ping: {e}");
            return ExitCode::from(4);
        }
        Err(e) => {
            eprintln!("outpost ping: {e}");
            return ExitCode::from(4);
        }
    };
    let code = exit_code(&rows);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = print(&opts, &rows, &mut out).and_then(|()| out.flush());
    match written {
        Ok(()) => code,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(e) => {
            eprintln!("outpost ping: writing the output: {e}");
            ExitCode::from(4)
        }
    }
}

fn exit_code(rows: &[Row]) -> ExitCode {
    if rows.iter().any(|r| r.result.is_err()) {
        ExitCode::from(2)
    } else if rows
        .iter()
        .any(|r| r.result.as_ref().is_ok_and(|p| !p.alive()))
    {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

async fn resolve(host: &str) -> Result<IpAddr, String> {
    if let Ok(a) = host.parse::<IpAddr>() {
        return Ok(a);
    }
    match tokio::net::lookup_host((host, 0)).await {
        Ok(mut addrs) => addrs
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| "Name or service not known".to_string()),
        Err(_) => Err("Name or service not known".to_string()),
    }
}

async fn ping_all(opts: &Options) -> Result<Vec<Row>, outpost_icmp::IcmpError> {
    let engine = Engine::new(EngineConfig::default())?;
    let mut addrs = Vec::with_capacity(opts.hosts.len());
    for h in &opts.hosts {
        addrs.push(resolve(h).await);
    }
    // Open each family needed before any probe: a privilege problem is one error, not one
    // per target.
    for family in [outpost_icmp::Family::V4, outpost_icmp::Family::V6] {
        if addrs
            .iter()
            .flatten()
            .any(|a| outpost_icmp::Family::of(a) == family)
        {
            engine.open(family).await?;
        }
    }
    let spec = |target: IpAddr, timeout_ms: u64| PingSpec {
        count: opts.count.unwrap_or(1),
        interval: Duration::from_millis(opts.period_ms),
        timeout: Duration::from_millis(timeout_ms),
        size: opts.bytes,
        ..PingSpec::new(target)
    };
    let pings = addrs.iter().map(|a| {
        let engine = &engine;
        async move {
            let target = *a.as_ref().map_err(Clone::clone)?;
            if opts.count.is_some() {
                return engine
                    .ping(&spec(target, opts.timeout_ms))
                    .await
                    .map_err(|e| e.to_string());
            }
            // fping's default mode: up to 3 retries, each waiting 1.5x longer.
            let mut timeout = opts.timeout_ms as f64;
            let mut last = None;
            for _ in 0..4 {
                let r = engine
                    .ping(&spec(target, timeout as u64))
                    .await
                    .map_err(|e| e.to_string())?;
                if r.alive() {
                    return Ok(r);
                }
                last = Some(r);
                timeout *= 1.5;
            }
            last.ok_or_else(|| "no probe sent".to_string())
        }
    });
    let results = futures_util::future::join_all(pings).await;
    Ok(opts
        .hosts
        .iter()
        .zip(results)
        .map(|(host, result)| Row {
            host: host.clone(),
            result,
        })
        .collect())
}

fn print(opts: &Options, rows: &[Row], out: &mut impl Write) -> std::io::Result<()> {
    for r in rows {
        if let Err(e) = &r.result {
            eprintln!("{}: {e}", r.host);
        }
    }
    if opts.json {
        for r in rows {
            let v = match &r.result {
                Ok(p) => {
                    let mut v = serde_json::to_value(p).unwrap_or_default();
                    if let Some(o) = v.as_object_mut() {
                        o.insert("host".into(), r.host.clone().into());
                        o.insert("alive".into(), p.alive().into());
                    }
                    v
                }
                Err(e) => serde_json::json!({"host": r.host, "error": e}),
            };
            writeln!(out, "{v}")?;
        }
        return Ok(());
    }
    let ok: Vec<(&str, &PingResult)> = rows
        .iter()
        .filter_map(|r| r.result.as_ref().ok().map(|p| (r.host.as_str(), p)))
        .collect();
    for (host, p) in &ok {
        for o in &p.probes {
            match o {
                Outcome::Unreachable { from, code } => eprintln!(
                    "{} from {from} for ICMP Echo sent to {host}",
                    unreach_text(p.target.is_ipv6(), *code)
                ),
                Outcome::TimeExceeded { from, .. } => {
                    eprintln!("ICMP Time Exceeded from {from} for ICMP Echo sent to {host}")
                }
                _ => {}
            }
        }
        // fping says it once per host, and prints no per-probe line for those probes.
        if let Some(Outcome::SendError { error }) = p
            .probes
            .iter()
            .find(|o| matches!(o, Outcome::SendError { .. }))
        {
            let error = error.split(" (os error").next().unwrap_or(error);
            eprintln!("{host}: error while sending ping: {error}");
        }
    }
    let Some(count) = opts.count else {
        for (host, p) in &ok {
            let state = if p.alive() { "alive" } else { "unreachable" };
            writeln!(out, "{host} is {state}")?;
        }
        return Ok(());
    };
    let w = rows.iter().map(|r| r.host.len()).max().unwrap_or(0);
    let bytes = outpost_icmp::payload::size_for(opts.bytes) + 8;
    if !opts.quiet {
        // fping prints as replies arrive; we print round by round, in the order given.
        for i in 0..count as usize {
            for (host, p) in &ok {
                let Some(o) = p.probes.get(i) else { continue };
                let seen = &p.probes[..=i];
                let rtts: Vec<f64> = seen
                    .iter()
                    .filter_map(|o| match o {
                        Outcome::Reply { rtt } => Some(rtt.as_secs_f64() * 1000.0),
                        _ => None,
                    })
                    .collect();
                let avg = if rtts.is_empty() {
                    "NaN".to_string()
                } else {
                    fmt_ms(rtts.iter().sum::<f64>() / rtts.len() as f64)
                };
                let loss = (seen.len() - rtts.len()) * 100 / seen.len();
                match o {
                    Outcome::SendError { .. } => {}
                    Outcome::Reply { rtt } => writeln!(
                        out,
                        "{host:<w$} : [{i}], {bytes} bytes, {} ms ({avg} avg, {loss}% loss)",
                        fmt_ms(rtt.as_secs_f64() * 1000.0)
                    )?,
                    _ => writeln!(
                        out,
                        "{host:<w$} : [{i}], timed out ({avg} avg, {loss}% loss)"
                    )?,
                }
            }
        }
        out.flush()?;
    }
    // One buffered write for every summary line (fping writes each on its own).
    let mut err = std::io::BufWriter::new(std::io::stderr().lock());
    if !opts.quiet {
        writeln!(err)?;
    }
    for (host, p) in &ok {
        if opts.report_all {
            let rtts: Vec<String> = p
                .probes
                .iter()
                .map(|o| match o {
                    Outcome::Reply { rtt } => fmt_ms(rtt.as_secs_f64() * 1000.0),
                    _ => "-".to_string(),
                })
                .collect();
            writeln!(err, "{host:<w$} : {}", rtts.join(" "))?;
        } else {
            let loss = (p.sent - p.received) * 100 / p.sent.max(1);
            let mut line = format!(
                "{host:<w$} : xmt/rcv/%loss = {}/{}/{loss}%",
                p.sent, p.received
            );
            if let (Some(min), Some(avg), Some(max)) = (p.rtt_min_ms, p.rtt_avg_ms, p.rtt_max_ms) {
                line.push_str(&format!(
                    ", min/avg/max = {}/{}/{}",
                    fmt_ms(min),
                    fmt_ms(avg),
                    fmt_ms(max)
                ));
            }
            writeln!(err, "{line}")?;
        }
    }
    err.flush()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn issue14_ping_flags_parse_like_getopt() {
        let o = parse(&args("-c3 -p 20 -t100 -q -b 100 a b")).unwrap();
        assert_eq!(o.count, Some(3));
        assert!(!o.report_all && o.quiet);
        assert_eq!((o.period_ms, o.timeout_ms, o.bytes), (20, 100, 100));
        assert_eq!(o.hosts, ["a", "b"]);
        assert!(parse(&args("-C 2 x")).unwrap().report_all);
        for bad in [
            "-c",
            "-c 0 x",
            "-x x",
            "-t 0 x",
            "",
            "-c abc x",
            "-g 10.0.0.0/8 -f f",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn issue14_ping_generate_excludes_network_and_broadcast() {
        let g = generate("127.0.0.0/30").unwrap();
        assert_eq!(
            g,
            [
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "127.0.0.2".parse().unwrap()
            ]
        );
        assert_eq!(generate("10.0.0.0/24").unwrap().len(), 254);
        assert_eq!(generate("10.0.0.7/32").unwrap().len(), 1);
        assert_eq!(generate("10.0.0.0/31").unwrap().len(), 2);
        assert!(generate("10.0.0.0/8").is_err(), "over fping's cap");
        assert!(generate("::1/128").is_err());
        assert!(generate("10.0.0.0").is_err());
    }

    #[test]
    fn issue14_ping_times_print_like_fping() {
        assert_eq!(fmt_ms(0.0291), "0.029");
        assert_eq!(fmt_ms(4.56789), "4.57");
        assert_eq!(fmt_ms(45.6789), "45.7");
        assert_eq!(fmt_ms(456.789), "457");
    }
}
