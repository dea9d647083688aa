//! The device the Reagent suites play against Crossbar ([`crate::crossbar`]): its
//! `.flock`, the router's principals for it and the backend, and calling its
//! `re.mgmt.<serial>.*` procedures once it has registered them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::crossbar::{Backend, Principal};

/// The device's WAMP-CRA authid: `<swarm_key>-<device_key>` of [`flock`].
pub const AUTHID: &str = "7-42";
/// The device's secret in [`flock`].
pub const SECRET: &str = "flock-secret";
/// An account the backend's `check_privilege` refuses (the suites pass it to the backend).
pub const DENIED: u64 = 13;

/// What a backend call answers: `(args, kwargs)`, or `(error uri, args, kwargs)`.
pub type Reply = Result<(Value, Value), (String, Value, Value)>;

/// The router's principals: the device and the backend (`system`).
pub fn principals() -> Vec<Principal> {
    vec![
        Principal::new(AUTHID, SECRET, "device"),
        Principal::new("system", "backend-secret", "backend"),
    ]
}

/// Writes `DIR/device.flock` (DIR created): Reagent's keys for swarm 7, device 42, serial
/// `serial`, endpoint `url` and [`SECRET`], then `extra`'s keys, which win.
pub fn flock(dir: &Path, url: &str, serial: &str, extra: Value) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut v = json!({
        "name": "edge", "secret": SECRET, "swarm_key": 7, "device_key": 42,
        "serial_number": serial, "device_endpoint_url": url,
    });
    if let (Some(m), Value::Object(x)) = (v.as_object_mut(), extra) {
        m.extend(x);
    }
    let p = dir.join("device.flock");
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

/// `re.mgmt.<serial>.<name>`.
pub fn uri(serial: &str, name: &str) -> String {
    format!("re.mgmt.{serial}.{name}")
}

/// Calls the device's procedure `name` until it has registered it (the router answers
/// `no_such_procedure` before), for at most `within`; then returns the reply.
pub fn call_registered(
    b: &mut Backend,
    serial: &str,
    name: &str,
    args: Value,
    kwargs: Value,
    within: Duration,
) -> Reply {
    let end = Instant::now() + within;
    loop {
        let r = b.call(&uri(serial, name), args.clone(), kwargs.clone());
        match &r {
            Err((u, ..)) if u == "wamp.error.no_such_procedure" && Instant::now() < end => {
                std::thread::park_timeout(Duration::from_millis(200));
            }
            _ => return r,
        }
    }
}

/// The `error` text of a `wamp.error.canceled` reply; panics on anything else.
pub fn canceled(r: Reply) -> String {
    let (u, args, _) = r.expect_err("an error reply");
    assert_eq!(u, "wamp.error.canceled", "{args}");
    args[0]["error"].as_str().unwrap().to_owned()
}
