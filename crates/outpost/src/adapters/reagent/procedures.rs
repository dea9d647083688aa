//! The `re.mgmt.<serial>.*` procedures this adapter registers so far, each with the
//! privilege Reagent checks for it (../shared/compat/reagent.md §3), and their handlers.
//! A handler's `Err(message)` goes back as `wamp.error.canceled` with `[{"error": message}]`
//! (Reagent's shape); bad arguments are such an error, never a crash.

use std::time::{SystemTime, UNIX_EPOCH};

use outpost_proto::wamp::Payload;
use serde_json::{json, Value};

use super::privilege::Privilege;

/// A procedure: its short name and the privilege it needs.
pub struct Procedure {
    pub name: &'static str,
    pub privilege: Privilege,
}

/// What part 1 registers. Not yet: `list_containers`, `get_images` (the containers job
/// kinds) and the rest of §3.
pub const PROCEDURES: &[Procedure] = &[
    Procedure {
        name: "device_handshake",
        privilege: Privilege::Open,
    },
    Procedure {
        name: "get_agent_metadata",
        privilege: Privilege::Read,
    },
    // Open in Reagent (a host command for anyone the router lets call): here DEVELOP, the
    // privilege Reagent asks for its container terminals.
    Procedure {
        name: "execute_cmd",
        privilege: Privilege::Develop,
    },
];

/// What an allowed invocation needs done.
#[derive(Debug, PartialEq)]
pub enum Work {
    /// Answered at once.
    Done(Result<Payload, String>),
    /// An `execute_cmd` command line, for the exec allowlist (see `exec.rs`).
    Exec(String),
}

pub fn privilege_of(name: &str) -> Option<Privilege> {
    PROCEDURES
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.privilege)
}

/// What the handlers know about the device.
pub struct Device {
    pub serial: String,
}

/// Runs procedure `name` (already allowed) on `payload`, or says what is left to do.
pub fn handle(device: &Device, name: &str, payload: &Payload) -> Work {
    match name {
        "execute_cmd" => match super::exec::command_line(payload) {
            Ok(line) => Work::Exec(line),
            Err(e) => Work::Done(Err(e)),
        },
        _ => Work::Done(answer(device, name, payload)),
    }
}

fn answer(device: &Device, name: &str, _payload: &Payload) -> Result<Payload, String> {
    match name {
        // kwargs `{utp: <RFC 3339 now>, id: <serial>}`.
        "device_handshake" => {
            let mut p = Payload::default();
            p.kwargs.insert("utp".into(), json!(rfc3339_now()));
            p.kwargs.insert("id".into(), json!(device.serial));
            Ok(p)
        }
        "get_agent_metadata" => Ok(Payload::args(vec![agent_metadata(device)])),
        other => Err(format!("unknown procedure {other:?}")),
    }
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

fn rfc3339_now() -> String {
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
        let p = answer(&dev, "device_handshake", &Payload::default()).unwrap();
        assert!(p.args.is_empty());
        assert_eq!(p.kwargs["id"], "SER1");
        let utp = p.kwargs["utp"].as_str().unwrap();
        assert_eq!(utp.len(), 20, "{utp}");
        assert!(utp.ends_with('Z') && utp.as_bytes()[10] == b'T');
        let m = answer(&dev, "get_agent_metadata", &Payload::args(vec![json!(1)])).unwrap();
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
