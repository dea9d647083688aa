//! A job body, through the two paths the agent really takes with one:
//!
//! - the local API's `POST /v1/jobs`: `api::body::decode` then the registry's validation
//!   (`Executor::prepare`), i.e. `api::jobs::decode_job`;
//! - an uplink's: `uplink::inbound::handle_bytes` (what the MQTT uplink calls on a payload:
//!   the size check, `outpost_proto::Message::decode`, the reply) with a real `Dispatcher`
//!   over a real store. Its queue capacity is 0, so a job that passes
//!   `prepare` is refused as `busy` right after it: nothing is stored or run (an SNMP job
//!   would otherwise send datagrams).
//!
//! Input: one mode byte, then the body. Bit 0 picks the path (0 API, 1 uplink). Bit 1 says
//! what follows: 0 the body's bytes as they are (seeds: the README's and docs/protocol.md's
//! examples and every kind's params), 1 bytes a structured body is built from (a kind from
//! the registry's list, params with that kind's field names and plausible values).
//!
//! `stage_*` functions mark outcomes in libFuzzer's coverage output (bench/fuzz/run.sh):
//! a kind's `prepare` accepting params shows as its `stage_*_accepted` function covered.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use outpost::uplink::inbound::{handle_bytes, Handled};
use outpost_core::{CoreMetrics, Dispatcher, DispatcherConfig, Registry, Store, StoreConfig};
use serde_json::{json, Map, Value};

struct Harness {
    registry: Registry,
    dispatcher: Dispatcher,
    rt: tokio::runtime::Runtime,
}

/// Built once: the registry is read-only while decoding, and building it per input (with
/// its host handle) made each run ~3 ms.
fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let started = std::time::Instant::now();
        let registry = outpost::executors::registry(started, outpost::executors::Host::default());
        let dir = std::env::temp_dir().join(format!("outpost-fuzz-jobs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory for the store");
        let metrics = CoreMetrics::default();
        let (store, _) = Store::open(StoreConfig::new(dir.join("fuzz.db")), metrics.clone())
            .expect("the store opens");
        let dispatcher = Dispatcher::new(
            outpost::executors::registry(started, outpost::executors::Host::default()),
            store,
            metrics,
            DispatcherConfig {
                queue_capacity: 0,
                max_timeout: Duration::from_secs(3600),
            },
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        Harness {
            registry,
            dispatcher,
            rt,
        }
    })
}

// Each marker's body differs (its name): rustc merges identical functions, which would fold
// every marker into one name in the coverage output.
macro_rules! stages {
    ($($kind:literal => $f:ident),* $(,)?) => {
        $(#[inline(never)] fn $f() { std::hint::black_box(stringify!($f)); })*
        /// Marks a kind whose params `prepare` accepted.
        fn accepted(kind: &str) {
            match kind { $($kind => $f(),)* _ => {} }
        }
        const KINDS: &[&str] = &[$($kind),*];
    };
}
stages! {
    "echo" => stage_echo_accepted,
    "sleep" => stage_sleep_accepted,
    "agent.info" => stage_agent_info_accepted,
    "metrics" => stage_metrics_accepted,
    "snmp.get" => stage_snmp_get_accepted,
    "snmp.walk" => stage_snmp_walk_accepted,
    "snmp.set" => stage_snmp_set_accepted,
}

#[inline(never)]
fn stage_api_accepted() {
    std::hint::black_box("stage_api_accepted");
}
#[inline(never)]
fn stage_uplink_prepared() {
    std::hint::black_box("stage_uplink_prepared");
}

/// Field names the executors read, so structured params hit them.
const FIELDS: &[&str] = &[
    "target",
    "version",
    "community",
    "user",
    "auth_protocol",
    "auth_password",
    "priv_protocol",
    "priv_password",
    "context",
    "timeout_ms",
    "retries",
    "oids",
    "oid",
    "max_repetitions",
    "max_varbinds",
    "varbinds",
    "type",
    "value",
    "ms",
    "groups",
    "hello",
];
/// Plausible string values: targets, versions, protocols, OIDs, names, set types, groups.
const STRINGS: &[&str] = &[
    "127.0.0.1",
    "127.0.0.1:1161",
    "udp6:[::1]:161",
    "tcp:127.0.0.1:161",
    "host:0",
    "[::1]",
    "1",
    "2c",
    "3",
    "4",
    "public",
    "probe",
    "MD5",
    "SHA",
    "SHA-224",
    "SHA-256",
    "SHA-384",
    "SHA-512",
    "DES",
    "AES",
    "AES192",
    "AES256",
    "authpass123",
    "privpass123",
    "short",
    ".1.3.6.1.2.1.1.1.0",
    "sysDescr.0",
    "IF-MIB::ifTable",
    "1.3.6",
    "3.1",
    "0.50",
    ".1",
    "SNMPv2-MIB::sysUpTime.0",
    "i",
    "u",
    "g",
    "c",
    "t",
    "a",
    "o",
    "s",
    "x",
    "d",
    "n",
    "U",
    "192.0.2.1",
    "DEADBEEF",
    "cpu",
    "memory",
    "load",
    "disks",
    "network",
    "processes",
    "temperatures",
    "gpus",
    "[redacted]",
    "",
];

fn string(u: &mut Unstructured) -> arbitrary::Result<String> {
    if u.ratio(3, 4)? {
        Ok((*u.choose(STRINGS)?).to_owned())
    } else {
        u.arbitrary()
    }
}

/// A JSON value: biased to the shapes params take, bounded in depth.
fn value(u: &mut Unstructured, depth: u32) -> arbitrary::Result<Value> {
    let pick = if depth == 0 {
        u.int_in_range(0..=4)?
    } else {
        u.int_in_range(0..=6)?
    };
    Ok(match pick {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => json!(u.arbitrary::<i64>()?),
        3 => match u.int_in_range(0..=3)? {
            0 => json!(u.arbitrary::<u64>()?),
            1 => json!(u.arbitrary::<f64>()?),
            _ => json!(u.int_in_range(0..=70_000u32)?),
        },
        4 => Value::String(string(u)?),
        5 => {
            let n = u.int_in_range(0..=4)?;
            Value::Array(
                (0..n)
                    .map(|_| value(u, depth - 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => Value::Object(object(u, depth - 1)?),
    })
}

fn object(u: &mut Unstructured, depth: u32) -> arbitrary::Result<Map<String, Value>> {
    let mut m = Map::new();
    for _ in 0..u.int_in_range(0..=6)? {
        let k = if u.ratio(7, 8)? {
            (*u.choose(FIELDS)?).to_owned()
        } else {
            u.arbitrary()?
        };
        m.insert(k, value(u, depth)?);
    }
    Ok(m)
}

/// A body built from bytes: the API's `SubmitJob` or an uplink envelope.
fn structured(u: &mut Unstructured, uplink: bool) -> arbitrary::Result<Vec<u8>> {
    let kind = if u.ratio(15, 16)? {
        (*u.choose(KINDS)?).to_owned()
    } else {
        u.arbitrary()?
    };
    let mut body = Map::new();
    body.insert("kind".into(), Value::String(kind));
    body.insert("params".into(), Value::Object(object(u, 2)?));
    if u.ratio(1, 4)? {
        body.insert("timeout_ms".into(), value(u, 0)?);
    }
    if uplink {
        body.insert(
            "v".into(),
            json!(if u.ratio(15, 16)? {
                1
            } else {
                u.arbitrary::<i64>()?
            }),
        );
        let t = if u.ratio(7, 8)? {
            "job"
        } else {
            *u.choose(&["cancel", "ack", "hello", "x"])?
        };
        body.insert("type".into(), json!(t));
        let id = if u.ratio(7, 8)? {
            format!("{:032x}", u.arbitrary::<u128>()?)
        } else {
            u.arbitrary()?
        };
        body.insert("id".into(), json!(id));
    }
    Ok(serde_json::to_vec(&Value::Object(body)).unwrap_or_default())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let uplink = mode & 1 == 1;
    let built;
    let body = if mode & 2 == 0 {
        rest
    } else {
        built = structured(&mut Unstructured::new(rest), uplink).unwrap_or_default();
        &built[..]
    };
    let h = harness();
    if !uplink {
        if let Ok(job) = outpost::api::jobs::decode_job(&h.registry, body) {
            stage_api_accepted();
            accepted(&job.kind);
        }
        return;
    }
    // The kind, for the stage markers only: the handler decodes the bytes itself.
    let kind = match outpost_proto::Message::decode(body) {
        Ok(outpost_proto::Message::Job { kind, .. }) => Some(kind),
        _ => None,
    };
    let handled = h.rt.block_on(handle_bytes(
        &h.dispatcher,
        body,
        "fuzz",
        Duration::from_secs(10),
    ));
    // Capacity 0: `busy` is what a job that passed `prepare` gets.
    if let (Handled::Reply(outpost_proto::Message::Error { code, .. }), Some(kind)) =
        (&handled, kind)
    {
        if code == "busy" {
            stage_uplink_prepared();
            accepted(&kind);
        }
    }
});
