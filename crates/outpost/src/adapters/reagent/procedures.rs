//! The `re.mgmt.<serial>.*` procedures this adapter registers, each with the privilege
//! it needs (../shared/compat/reagent.md §3), and what an allowed invocation does.
//! Reagent leaves some open (`device_handshake`, `get_ipv4_addresses`, `execute_cmd`):
//! here every one is checked, so [`Privilege`] has no "open". A handler's `Err(message)`
//! goes back as `wamp.error.canceled` with `[{"error": message}]` (Reagent's shape); bad
//! arguments are such an error, never a crash.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use outpost_proto::wamp::Payload;
use serde_json::{json, Map, Value};

use super::jobs::{JobCall, Shape};
use super::privilege::Privilege;
use super::session::GUARD;

/// A procedure: its short name and the privilege it needs.
pub struct Procedure {
    pub name: &'static str,
    pub privilege: Privilege,
}

const fn p(name: &'static str, privilege: Privilege) -> Procedure {
    Procedure { name, privilege }
}

/// What is registered with `force_reregister` (the guard, registered first and without
/// options, needs READ as well: see [`privilege_of`]). Not yet: logs, terminals, network
/// configuration, OTA.
pub const PROCEDURES: &[Procedure] = &[
    // Open in Reagent.
    p("device_handshake", Privilege::Read),
    p("get_agent_metadata", Privilege::Read),
    // Open in Reagent (a host command for anyone the router lets call): here DEVELOP, the
    // privilege Reagent asks for its container terminals.
    p("execute_cmd", Privilege::Develop),
    p("list_containers", Privilege::Read),
    p("get_images", Privilege::Read),
    p("prune_images", Privilege::Maintain),
    p("get_storage_data", Privilege::Read),
    // Open in Reagent.
    p("get_ipv4_addresses", Privilege::Read),
    p("list_ethernet_devices", Privilege::Read),
    p("system_reboot", Privilege::Maintain),
    p("system_shutdown", Privilege::Maintain),
    p("system_restart_agent", Privilege::Maintain),
    // Open in Reagent: here DEVELOP (it runs and removes containers), see `app_driver.rs`.
    p("request_app_state", Privilege::Develop),
    p("get_requested_app_states", Privilege::Read),
    // Logs (applogs.rs), the updater, container terminals (terminal.rs).
    p("get_app_log_history", Privilege::Read),
    p("query_app_logs", Privilege::Read),
    p("query_device_logs", Privilege::Read),
    p("update_agent", Privilege::Maintain),
    p("request_terminal_session", Privilege::Develop),
    p("start_terminal_session", Privilege::Develop),
    p("stop_terminal_session", Privilege::Develop),
];

/// A terminal's resize procedure, registered while it runs: `term_resize.<container>.<id>`.
pub const RESIZE_PREFIX: &str = "term_resize.";

/// How long a container listing or a host snapshot may take.
const QUICK: Duration = Duration::from_secs(30);
/// A prune walks every image.
const PRUNE: Duration = Duration::from_secs(120);
/// A download of the agent's build, its checks and the swap.
const UPDATE: Duration = Duration::from_secs(600);

/// What an allowed invocation needs done.
#[derive(Debug, PartialEq)]
pub enum Work {
    /// Answered at once.
    Done(Result<Payload, String>),
    /// An `execute_cmd` command line, for the exec allowlist (see `exec.rs`).
    Exec(String),
    /// A job through the dispatcher, its output shaped (see `jobs.rs`).
    Job(JobCall),
    /// A system procedure's configured command (see `system.rs`).
    System(&'static str),
    /// A checked `request_app_state`, for the app driver (see `app_driver.rs`).
    AppRequest(Box<super::apps::Request>),
    /// `get_requested_app_states`: the kept requests.
    AppStates,
    /// The agent's own log file, read off the loop (see `applogs.rs`).
    DeviceLogs(super::applogs::DeviceQuery),
    /// A terminal procedure: the pump's terminals run it (see `terminal.rs`).
    Terminal(String, Payload),
}

pub fn privilege_of(name: &str) -> Option<Privilege> {
    if name == GUARD {
        return Some(Privilege::Read);
    }
    if name.starts_with(RESIZE_PREFIX) {
        return Some(Privilege::Develop);
    }
    PROCEDURES
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.privilege)
}

/// What the handlers know about the device.
pub struct Device {
    pub serial: String,
}

/// The arguments of a procedure that takes none of its own: nothing, or one dict (the
/// backend's `requestor_account_key` travels in it). Anything else is refused: a caller
/// that sends positional values expects them to mean something.
fn no_arguments(name: &str, payload: &Payload) -> Result<(), String> {
    match payload.args.as_slice() {
        [] | [Value::Object(_)] => Ok(()),
        _ => Err(format!(
            "{name} takes no arguments (at most one dict), got {}",
            outpost_proto::bounded(&Value::Array(payload.args.clone()).to_string())
        )),
    }
}

/// The dict of a procedure that takes one: kwargs, else `args[0]` (Reagent read `args[0]`).
fn dict_argument<'a>(name: &str, payload: &'a Payload) -> Result<&'a Map<String, Value>, String> {
    if !payload.kwargs.is_empty() {
        return Ok(&payload.kwargs);
    }
    match payload.args.as_slice() {
        [Value::Object(o)] => Ok(o),
        [] => Err(format!("{name} needs a dict argument: no arguments")),
        _ => Err(format!("{name} takes one dict argument")),
    }
}

/// Runs procedure `name` (already allowed) on `payload`, or says what is left to do.
pub fn handle(device: &Device, name: &str, payload: &Payload) -> Work {
    match plan(device, name, payload) {
        Ok(w) => w,
        Err(e) => Work::Done(Err(e)),
    }
}

fn job(
    procedure: &'static str,
    kind: &'static str,
    params: Value,
    timeout: Duration,
    shape: Shape,
) -> Work {
    Work::Job(JobCall {
        procedure,
        kind,
        params,
        timeout,
        shape,
    })
}

fn plan(device: &Device, name: &str, payload: &Payload) -> Result<Work, String> {
    Ok(match name {
        "execute_cmd" => Work::Exec(super::exec::command_line(payload)?),
        // Reagent's guard greeting.
        GUARD => Work::Done(Ok(Payload::args(vec![json!("Hello :-)")]))),
        // kwargs `{utp: <RFC 3339 now>, id: <serial>}`, whatever the arguments (Reagent's).
        "device_handshake" => {
            let mut p = Payload::default();
            p.kwargs.insert("utp".into(), json!(rfc3339_now()));
            p.kwargs.insert("id".into(), json!(device.serial));
            Work::Done(Ok(p))
        }
        "get_agent_metadata" => Work::Done(Ok(Payload::args(vec![agent_metadata(device)]))),
        "list_containers" => {
            no_arguments(name, payload)?;
            job(
                "list_containers",
                "container.list",
                json!({"all": true}),
                QUICK,
                Shape::Containers,
            )
        }
        "get_images" => {
            no_arguments(name, payload)?;
            job("get_images", "image.list", json!({}), QUICK, Shape::Images)
        }
        "prune_images" => {
            let d = dict_argument(name, payload)?;
            let all = match d.get("all") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err("prune_images: all must be true or false".into()),
            };
            job(
                "prune_images",
                "image.prune",
                json!({"all": all}),
                PRUNE,
                Shape::Prune,
            )
        }
        "get_storage_data" => {
            no_arguments(name, payload)?;
            job(
                "get_storage_data",
                crate::executors::metrics::KIND,
                json!({"groups": ["cpu", "memory", "disks"]}),
                QUICK,
                Shape::Storage,
            )
        }
        "get_ipv4_addresses" => {
            no_arguments(name, payload)?;
            job(
                "get_ipv4_addresses",
                crate::executors::interfaces::KIND,
                json!({}),
                QUICK,
                Shape::Ipv4,
            )
        }
        "list_ethernet_devices" => {
            no_arguments(name, payload)?;
            job(
                "list_ethernet_devices",
                crate::executors::interfaces::KIND,
                json!({}),
                QUICK,
                Shape::Ethernet,
            )
        }
        "system_reboot" => {
            no_arguments(name, payload)?;
            Work::System("system_reboot")
        }
        "system_shutdown" => {
            no_arguments(name, payload)?;
            Work::System("system_shutdown")
        }
        "system_restart_agent" => {
            no_arguments(name, payload)?;
            Work::System("system_restart_agent")
        }
        "request_app_state" => {
            let d = dict_argument(name, payload)?;
            Work::AppRequest(Box::new(
                super::apps::parse_request(d).map_err(|e| format!("request_app_state: {e}"))?,
            ))
        }
        "get_requested_app_states" => {
            no_arguments(name, payload)?;
            Work::AppStates
        }
        "get_app_log_history" => Work::Job(super::applogs::history(payload)?),
        "query_app_logs" => Work::Job(super::applogs::query(payload)?),
        "query_device_logs" => Work::DeviceLogs(super::applogs::device_query(payload)?),
        "update_agent" => {
            no_arguments(name, payload)?;
            job(
                "update_agent",
                "agent.update",
                json!({}),
                UPDATE,
                Shape::Update,
            )
        }
        "request_terminal_session" | "start_terminal_session" | "stop_terminal_session" => {
            Work::Terminal(name.to_owned(), payload.clone())
        }
        other if other.starts_with(RESIZE_PREFIX) => {
            Work::Terminal(other.to_owned(), payload.clone())
        }
        other => return Err(format!("unknown procedure {other:?}")),
    })
}

fn agent_metadata(device: &Device) -> Value {
    let version = crate::version::get();
    json!({
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "variant": "",
        "version": version,
        "serialNumber": device.serial,
        // Outpost updates itself through its own signed channel, not Reagent's.
        "canUpdate": false,
        "OSVersion": os_version(),
        "tunnelCapable": false,
        "latestVersion": version,
        "latestAgentVersion": version,
        "latestTunnelVersion": "",
        "hasLatest": true,
    })
}

/// `PRETTY_NAME` of /etc/os-release, else empty.
fn os_version() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_default()
}

pub fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d) = outpost_core::clock::civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue19_handshake_and_metadata_shapes() {
        let dev = Device {
            serial: "SER1".into(),
        };
        let done = |w: Work| match w {
            Work::Done(Ok(p)) => p,
            other => panic!("{other:?}"),
        };
        let p = done(handle(&dev, "device_handshake", &Payload::default()));
        assert!(p.args.is_empty());
        assert_eq!(p.kwargs["id"], "SER1");
        let utp = p.kwargs["utp"].as_str().unwrap();
        assert_eq!(utp.len(), 20, "{utp}");
        assert!(utp.ends_with('Z') && utp.as_bytes()[10] == b'T');
        let m = done(handle(
            &dev,
            "get_agent_metadata",
            &Payload::args(vec![json!(1)]),
        ));
        assert_eq!(m.args[0]["serialNumber"], "SER1");
        for k in [
            "os",
            "arch",
            "version",
            "canUpdate",
            "OSVersion",
            "hasLatest",
        ] {
            assert!(m.args[0].get(k).is_some(), "{k}");
        }
        assert!(matches!(
            handle(&dev, "nope", &Payload::default()),
            Work::Done(Err(_))
        ));
        assert!(matches!(
            handle(&dev, "execute_cmd", &Payload::default()),
            Work::Done(Err(_))
        ));
        assert_eq!(
            handle(
                &dev,
                "execute_cmd",
                &Payload::args(vec![json!({"cmd": "say", "args": ["hi"]})])
            ),
            Work::Exec("say hi".into())
        );
        assert_eq!(privilege_of("get_agent_metadata"), Some(Privilege::Read));
    }
}
