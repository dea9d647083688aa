//! `outpost snmp ...`: net-snmp's flags parsed once into a raw form, then
//! validated into a [`Command`], then run. Output is `snmpwalk -On` lines,
//! or JSON lines with `--json`.

use std::io::{IsTerminal, Write};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::engine::{Engine, EngineConfig, TargetConfig};
use crate::error::SnmpError;
use crate::mib::Mib;
use crate::oid::Oid;
use crate::security::{Security, SecurityLevel, UsmUser};
use crate::target::TargetAddr;
use crate::usm::{AuthProtocol, PrivProtocol};
use crate::value::{Value, VarBind};
use crate::walk::WalkMode;

/// A walk's progress count on stderr moves every this many varbinds: often enough to
/// show life, rarely enough to cost nothing.
const PROGRESS_EVERY: u64 = 1000;

/// Usage text, printed with usage errors.
pub const USAGE: &str = "usage: outpost snmp get|getnext|walk|bulkwalk|set [OPTIONS] TARGET OID... 
  -v 1|2c|3  -c COMMUNITY  -u USER  -l noAuthNoPriv|authNoPriv|authPriv
  -a MD5|SHA|SHA-224|SHA-256|SHA-384|SHA-512  -A PASS  -x DES|AES|AES192|AES256  -X PASS
  -n CONTEXT  -t TIMEOUT  -r RETRIES  -Cr REPS  -On|-Os  --json  -M MIBDIR
  set: TARGET OID TYPE VALUE ... with TYPE one of i u g c t a o s x d n U
  TARGET: host, host:port, udp6:[::1]:161, tcp:host:port";

/// Why the CLI stopped.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flags or arguments: print with [`USAGE`] and exit 2.
    #[error("{0}")]
    Usage(String),
    /// The operation failed at runtime.
    #[error("{0}")]
    Snmp(#[from] SnmpError),
    /// Writing the output failed.
    #[error("output: {0}")]
    Io(#[from] std::io::Error),
}

/// The operations the command offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Get,
    GetNext,
    Walk,
    BulkWalk,
    Set,
}

/// A validated command line.
#[derive(Debug)]
pub struct Command {
    /// What to do.
    pub op: Op,
    /// Target settings, credentials included (redacted in Debug).
    pub target: TargetConfig,
    /// OIDs to get/walk.
    pub oids: Vec<Oid>,
    /// Typed values for SET.
    pub set: Vec<VarBind>,
    /// `-Cr`: max-repetitions for bulkwalk.
    pub max_repetitions: u32,
    /// `--json`: JSON lines instead of `-On` text.
    pub json: bool,
    /// `-Os`/`-OS`: `MODULE::name.index` instead of numeric OIDs.
    pub names: bool,
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// Parses net-snmp-style arguments (the op first, flags anywhere).
pub fn parse(args: &[String], mib: &Mib) -> Result<Command, CliError> {
    let mut it = args.iter();
    let op = match it.next().map(String::as_str) {
        Some("get") => Op::Get,
        Some("getnext") => Op::GetNext,
        Some("walk") => Op::Walk,
        Some("bulkwalk") => Op::BulkWalk,
        Some("set") => Op::Set,
        Some(o) => return Err(usage(format!("unknown operation {o:?}"))),
        None => return Err(usage("missing operation")),
    };
    let mut version = "1".to_string();

    let mut community: Option<String> = None;
    let (mut user, mut level, mut auth_p, mut auth_pass, mut priv_p, mut priv_pass, mut context) =
        (None, None, None, None, None, None, String::new());
    let mut timeout = 1.0f64;
    let mut retries = 5u32;
    let mut reps = 10u32;
    let mut json = false;
    let mut names = false;
    let mut pos: Vec<String> = Vec::new();
    let rest: Vec<&String> = it.collect();
    let mut i = 0;
    // Takes the value attached (`-v2c`) or in the next argument (`-v 2c`).
    let value = |i: &mut usize, flag: &str, arg: &str| -> Result<String, CliError> {
        if arg.len() > flag.len() {
            return Ok(arg[flag.len()..].to_string());
        }
        *i += 1;
        rest.get(*i)
            .map(|s| s.to_string())
            .ok_or_else(|| usage(format!("{flag} needs a value")))
    };
    while i < rest.len() {
        let a = rest[i].as_str();
        if a == "--json" {
            json = true;
        } else if a.starts_with("-O") {
            let o = value(&mut i, "-O", a)?;
            if o.contains('s') || o.contains('S') {
                names = true;
            }
            if o.contains('n') {
                names = false;
            }
        } else if a.starts_with("-Cr") {
            reps = value(&mut i, "-Cr", a)?
                .parse()
                .map_err(|_| usage("-Cr needs a number"))?;
        } else if a.starts_with("-M") {
            let _ = value(&mut i, "-M", a)?;
        } else if a.len() >= 2
            && a.starts_with('-')
            && !a[1..].starts_with(|c: char| c.is_ascii_digit())
        {
            let flag = a
                .get(..2)
                .ok_or_else(|| usage(format!("unknown option {a}")))?;
            let v = value(&mut i, flag, a)?;
            match flag {
                "-v" => {
                    version = v;
                }
                "-c" => community = Some(v),
                "-u" => user = Some(v),
                "-l" => level = Some(v),
                "-a" => {
                    auth_p = Some(AuthProtocol::from_str(&v).map_err(|e| usage(e.to_string()))?)
                }
                "-A" => auth_pass = Some(v),
                "-x" => {
                    priv_p = Some(PrivProtocol::from_str(&v).map_err(|e| usage(e.to_string()))?)
                }
                "-X" => priv_pass = Some(v),
                "-n" => context = v,
                "-t" => timeout = v.parse().map_err(|_| usage("-t needs seconds"))?,
                "-r" => retries = v.parse().map_err(|_| usage("-r needs a number"))?,
                _ => return Err(usage(format!("unknown option {a}"))),
            }
        } else {
            pos.push(a.to_string());
        }
        i += 1;
    }
    // Checked before `Duration::from_secs_f64`, which panics past its range.
    let max_timeout = crate::params::MAX_TIMEOUT_MS as f64 / 1000.0;
    if !(timeout.is_finite() && timeout > 0.0 && timeout <= max_timeout) {
        return Err(usage(format!(
            "Invalid timeout in seconds after -t flag: must be above 0 and at most {max_timeout}"
        )));
    }
    let mut pos = pos.into_iter();
    let target: TargetAddr = pos
        .next()
        .ok_or_else(|| usage("missing TARGET"))?
        .parse()
        .map_err(|e: crate::target::ParseTargetError| usage(e.to_string()))?;
    let security = match version.as_str() {
        "1" | "2c" => {
            let c = community.ok_or_else(|| usage("-c COMMUNITY is required for v1/v2c"))?;
            if version == "1" {
                Security::v1(&c)
            } else {
                Security::v2c(&c)
            }
        }
        "3" => {
            let name = user.ok_or_else(|| usage("-u USER is required for v3"))?;
            let lvl: SecurityLevel = match level {
                None => SecurityLevel::NoAuthNoPriv,
                Some(l) => l.parse().map_err(|_| {
                    usage(format!(
                        "unknown security level {:?}",
                        l.to_ascii_lowercase()
                    ))
                })?,
            };
            let auth = if lvl.is_authenticated() {
                let pass = auth_pass
                    .ok_or_else(|| usage("-A PASS is required for authNoPriv/authPriv"))?;
                Some((
                    auth_p.unwrap_or(AuthProtocol::Md5),
                    SecretString::from(pass),
                ))
            } else {
                None
            };
            let privacy = if lvl.is_private() {
                let pass = priv_pass.ok_or_else(|| usage("-X PASS is required for authPriv"))?;
                Some((
                    priv_p.unwrap_or(PrivProtocol::Des),
                    SecretString::from(pass),
                ))
            } else {
                None
            };
            let mut u = UsmUser::new(&name, auth, privacy).map_err(|e| usage(e.to_string()))?;
            u.context_name = context;
            Security::Usm(Arc::new(u))
        }
        other => return Err(usage(format!("unknown version {other:?}"))),
    };
    let mut oids = Vec::new();
    let mut set = Vec::new();
    if op == Op::Set {
        let rest: Vec<String> = pos.collect();
        if rest.is_empty() || rest.len() % 3 != 0 {
            return Err(usage("set needs OID TYPE VALUE triples"));
        }
        for t in rest.chunks(3) {
            let [o, ty, v] = t else {
                return Err(usage("set needs OID TYPE VALUE triples"));
            };
            let oid = mib.parse_oid(o).map_err(|e| usage(e.to_string()))?;
            set.push(VarBind::new(oid, parse_set_value(ty, v, mib)?));
        }
    } else {
        for o in pos {
            oids.push(mib.parse_oid(&o).map_err(|e| usage(e.to_string()))?);
        }
        if oids.is_empty() {
            if matches!(op, Op::Walk | Op::BulkWalk) {
                // snmpwalk's default root is mib-2.
                oids.push(Oid(vec![1, 3, 6, 1, 2, 1]));
            } else {
                return Err(usage("missing OID"));
            }
        }
    }
    let mut cfg = TargetConfig::new(target, security);
    cfg.timeout = Duration::from_secs_f64(timeout);
    cfg.retries = retries;
    // A request no UDP datagram can carry fails at every attempt: say so now.
    let (pdu_type, vbs) = match op {
        Op::Set => (crate::pdu::PduType::Set, set.clone()),
        // A walk sends one root at a time.
        Op::Walk | Op::BulkWalk => (
            crate::pdu::PduType::GetBulk,
            oids.iter()
                .max_by_key(|o| o.len())
                .cloned()
                .map(VarBind::null)
                .into_iter()
                .collect(),
        ),
        Op::Get | Op::GetNext => (
            crate::pdu::PduType::GetBulk,
            oids.iter().cloned().map(VarBind::null).collect(),
        ),
    };
    crate::size::check_request_size(&cfg, pdu_type, &vbs).map_err(|e| usage(e.to_string()))?;
    Ok(Command {
        op,
        target: cfg,
        oids,
        set,
        max_repetitions: reps.max(1),
        json,
        names,
    })
}

/// net-snmp's SET type letters.
pub fn parse_set_value(ty: &str, v: &str, mib: &Mib) -> Result<Value, CliError> {
    let bad = || usage(format!("bad value {v:?} for type {ty}"));
    Ok(match ty {
        "i" => Value::Integer(v.parse().map_err(|_| bad())?),
        "u" | "g" => Value::Gauge32(v.parse().map_err(|_| bad())?),
        "c" => Value::Counter32(v.parse().map_err(|_| bad())?),
        "U" => Value::Counter64(v.parse().map_err(|_| bad())?),
        "t" => Value::TimeTicks(v.parse().map_err(|_| bad())?),
        "a" => {
            let ip: std::net::Ipv4Addr = v.parse().map_err(|_| bad())?;
            Value::IpAddress(ip.octets())
        }
        "o" => Value::ObjectId(mib.parse_oid(v).map_err(|_| bad())?),
        "s" => Value::OctetString(v.as_bytes().to_vec()),
        "x" => {
            let hex: String = v
                .chars()
                .filter(|c| !c.is_whitespace() && *c != ':')
                .collect();
            let hex = hex.strip_prefix("0x").unwrap_or(&hex).to_string();
            if hex.len() % 2 != 0 {
                return Err(bad());
            }
            let mut out = Vec::new();
            for i in (0..hex.len()).step_by(2) {
                out.push(
                    u8::from_str_radix(hex.get(i..i + 2).ok_or_else(bad)?, 16)
                        .map_err(|_| bad())?,
                );
            }
            Value::OctetString(out)
        }
        "d" => {
            let mut out = Vec::new();
            for p in v
                .split(|c: char| c == '.' || c.is_whitespace())
                .filter(|p| !p.is_empty())
            {
                out.push(p.parse::<u8>().map_err(|_| bad())?);
            }
            Value::OctetString(out)
        }
        "n" => Value::Null,
        _ => {
            return Err(usage(format!(
                "unknown SET type {ty:?} (use i u g c t a o s x d n U)"
            )))
        }
    })
}

/// A varbind in the JSON form: the numeric OID, its name when a MIB knows
/// it, and the typed value.
#[derive(serde::Serialize)]
struct JsonVarBind<'a> {
    /// Numeric OID, always present, so machines never depend on MIBs.
    oid: &'a crate::oid::Oid,
    /// `MODULE::name.index`, when a loaded MIB knows a prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// The typed value.
    value: &'a Value,
}

/// One varbind in the chosen output form.
fn print(out: &mut impl Write, vb: &VarBind, cmd: &Command, mib: &Mib) -> std::io::Result<()> {
    if cmd.json {
        let name = mib.name_of(&vb.oid);
        let j = JsonVarBind {
            oid: &vb.oid,
            name: (!name.starts_with('.')).then_some(name),
            value: &vb.value,
        };
        let line = serde_json::to_string(&j).map_err(std::io::Error::other)?;
        writeln!(out, "{line}")
    } else if cmd.names {
        writeln!(out, "{} = {}", mib.name_of(&vb.oid), vb.value)
    } else {
        writeln!(out, "{vb}")
    }
}

/// The `-M DIR` value, if given, read before the other flags because
/// OIDs on the command line may use names from it.
fn mib_dir(args: &[String]) -> Option<String> {
    let i = args.iter().position(|a| a.starts_with("-M"))?;
    let a = args.get(i)?;
    if a.len() > 2 {
        Some(a[2..].to_string())
    } else {
        args.get(i + 1).cloned()
    }
}

/// Runs a command line: `args` start with the operation.
pub async fn run_cli(args: &[String], out: &mut impl Write) -> Result<(), CliError> {
    let mut mib = Mib::builtin();
    if let Some(dir) = mib_dir(args) {
        mib.load_dir(std::path::Path::new(&dir))
            .map_err(|e| usage(format!("cannot read MIB directory {dir:?}: {e}")))?;
    }
    let cmd = parse(args, &mib)?;
    run(&cmd, &mib, out).await
}

/// Runs a parsed command.
pub async fn run(cmd: &Command, mib: &Mib, out: &mut impl Write) -> Result<(), CliError> {
    let engine = Engine::new(EngineConfig {
        sockets_per_family: 1,
        ..EngineConfig::default()
    })
    .await?;
    let session = engine.session(cmd.target.clone()).await?;
    let vbs = match cmd.op {
        Op::Get => session.get(&cmd.oids).await?,
        Op::GetNext => session.get_next(&cmd.oids).await?,
        Op::Set => session.set(&cmd.set).await?,
        Op::Walk | Op::BulkWalk => {
            let mode = if cmd.op == Op::Walk {
                WalkMode::GetNext
            } else {
                WalkMode::Bulk(cmd.max_repetitions)
            };
            // A progress count on stderr, only for a person watching.
            let progress = std::io::stderr().is_terminal();
            for root in &cmd.oids {
                let mut err = None;
                let mut n = 0u64;
                let r = session
                    .walk_each(root, mode, |vb| {
                        n += 1;
                        if progress && n % PROGRESS_EVERY == 0 {
                            eprint!("\r{n} varbinds");
                        }
                        if err.is_none() {
                            if let Err(e) = print(out, &vb, cmd, mib) {
                                err = Some(e);
                            }
                        }
                    })
                    .await;
                if progress && n >= PROGRESS_EVERY {
                    eprint!("\r");
                }
                if let Some(e) = err {
                    return Err(e.into());
                }
                if r?.end_of_mib && !cmd.json {
                    writeln!(out, "End of MIB")?;
                }
            }
            out.flush()?;
            return Ok(());
        }
    };
    for vb in &vbs {
        print(out, vb, cmd, mib)?;
    }
    out.flush()?;
    Ok(())
}
