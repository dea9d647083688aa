//! Procedures answered by an Outpost job (../shared/compat/reagent.md §3): the invocation
//! becomes a job through the dispatcher (stored, deadlined, on `/v1/events` like any
//! other), and its output is put into Reagent's shape here. The pump runs [`run`] on a
//! task of its own, so the WAMP read loop never waits on the engine or /proc.
//!
//! - `list_containers` → `container.list {all: true}` → `[[{ID, Names, ImageID, Labels,
//!   Status, State, ExitCode, Command}]]`;
//! - `get_images` → `image.list` → one argument per image `{created, containers,
//!   sharedSize, virtualSize, id, labels, size, repoTags}`;
//! - `prune_images {all}` → `image.prune` → `[{ImagesDeleted, SpaceReclaimed}]` (the engine's
//!   prune report, as Reagent passed it on);
//! - `get_storage_data` → `metrics {groups: [cpu, memory, disks]}` → `[stats]`, the
//!   heartbeat's figures (see `stats.rs`);
//! - `get_ipv4_addresses` → `host.interfaces` → `[[{interfaceName, ip}]]`: every IPv4
//!   address but loopback's;
//! - `list_ethernet_devices` → `host.interfaces` → one argument per Ethernet link
//!   `{interfaceName, mac, ipv4, ipv6, method}`: its first IPv4 and IPv6 address (empty
//!   when none), and `method` `unknown` (Reagent asked NetworkManager whether the address
//!   is DHCP's or static; Outpost does not manage addresses).

use std::time::Duration;

use outpost_core::{Dispatcher, JobSpec, JobState};
use outpost_proto::wamp::Payload;
use serde_json::{json, Value};

/// What to do with a job's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Containers,
    Images,
    Prune,
    Storage,
    Ipv4,
    Ethernet,
    /// `get_app_log_history` (applogs.rs).
    LogHistory,
    /// `query_app_logs`: the newest `offset` lines left out, `tail` kept.
    QueryLogs {
        tail: u64,
        offset: u64,
    },
    /// `update_agent`: `[{DidAgentUpdate, DidTunnelUpdate, DidUpdate, InProgress}]`.
    Update,
}

/// One job an invocation asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct JobCall {
    /// The procedure's short name: the job's source is `reagent:<procedure>`.
    pub procedure: &'static str,
    pub kind: &'static str,
    pub params: Value,
    pub timeout: Duration,
    pub shape: Shape,
}

/// What the shapes need besides the job's output.
#[derive(Clone, Default)]
pub struct Extra {
    /// The engine's data root and its figures (`docker_apps_*`), when containers are on.
    pub docker: Option<super::stats::DockerDisk>,
}

/// Submits `call`, waits for its result within its deadline, and shapes it.
pub async fn run(dispatcher: &Dispatcher, call: &JobCall, extra: Extra) -> Result<Payload, String> {
    let spec = JobSpec {
        id: None,
        kind: call.kind.into(),
        params: call.params.clone(),
        timeout: call.timeout,
        source: format!("reagent:{}", call.procedure),
    };
    let submitted = dispatcher
        .submit(spec)
        .await
        .map_err(|e| format!("refused: {}: {e}", e.code()))?;
    let rec = dispatcher
        .wait(submitted.id, call.timeout + Duration::from_secs(5))
        .await
        .map_err(|e| format!("the job store failed: {e}"))?
        .ok_or_else(|| "the job was lost".to_owned())?;
    match rec.state {
        s if !s.is_terminal() => Err(format!(
            "no result within {} s (job {}, {})",
            call.timeout.as_secs(),
            rec.id,
            s.as_str()
        )),
        JobState::Succeeded => {
            let out = rec
                .output
                .as_ref()
                .map(|o| o.to_value())
                .unwrap_or(Value::Null);
            shape(call.shape, &out, &extra)
        }
        state => Err(rec
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.code, e.message))
            .unwrap_or_else(|| state.as_str().to_owned())),
    }
}

/// A job's output in Reagent's shape.
pub fn shape(shape: Shape, out: &Value, extra: &Extra) -> Result<Payload, String> {
    let rows = || out.as_array().cloned().unwrap_or_default();
    match shape {
        Shape::Containers => Ok(Payload::args(vec![Value::Array(
            rows().iter().map(container).collect(),
        )])),
        Shape::Images => Ok(Payload::args(rows().iter().map(image).collect())),
        Shape::Prune => Ok(Payload::args(vec![prune(out)])),
        Shape::Storage => {
            let stats = super::stats::from_snapshot(out, extra.docker.as_ref());
            Ok(Payload::args(vec![stats]))
        }
        Shape::Ipv4 => {
            let mut list = Vec::new();
            for l in rows() {
                for ip in ips(&l, false) {
                    if !ip.starts_with("127.") {
                        list.push(json!({"interfaceName": str_of(&l, "name"), "ip": ip}));
                    }
                }
            }
            Ok(Payload::args(vec![Value::Array(list)]))
        }
        Shape::LogHistory => Ok(super::applogs::shape_history(out)),
        Shape::QueryLogs { tail, offset } => Ok(super::applogs::shape_query(out, tail, offset)),
        Shape::Update => {
            // The job succeeds once the new build is in place (the agent then restarts
            // into it), or with `updated: false` when there is nothing newer.
            let updated = out.get("updated").and_then(Value::as_bool).unwrap_or(false);
            Ok(Payload::args(vec![json!({
                "DidAgentUpdate": updated,
                "DidTunnelUpdate": false,
                "DidUpdate": updated,
                "InProgress": false,
            })]))
        }
        Shape::Ethernet => Ok(Payload::args(
            rows()
                .iter()
                .filter(|l| l["ethernet"] == true)
                .map(|l| {
                    json!({
                        "interfaceName": str_of(l, "name"),
                        "mac": str_of(l, "mac"),
                        "ipv4": ips(l, false).into_iter().next().unwrap_or_default(),
                        "ipv6": ips(l, true).into_iter().next().unwrap_or_default(),
                        "method": "unknown",
                    })
                })
                .collect(),
        )),
    }
}

/// A `host.interfaces` link's IPv4 (or IPv6) addresses, as text.
fn ips(link: &Value, v6: bool) -> Vec<String> {
    link.get("addresses")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|a| a.get("ip").and_then(Value::as_str))
                .filter(|ip| ip.contains(':') == v6)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// The exit code in the engine's status words: `Exited (137) 2 seconds ago` → 137; 0 for
/// a container that has not exited (the listing carries no other).
fn exit_code(status: &str) -> i64 {
    status
        .strip_prefix("Exited (")
        .and_then(|r| r.split_once(')'))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(0)
}

/// A `container.list` row as Docker's listing names it (Reagent passed Docker's types on).
fn container(r: &Value) -> Value {
    let status = str_of(r, "status");
    json!({
        "ID": str_of(r, "id"),
        "Names": [format!("/{}", str_of(r, "name"))],
        "ImageID": str_of(r, "image_id"),
        "Labels": r.get("labels").cloned().unwrap_or_else(|| json!({})),
        "Status": status,
        "State": str_of(r, "state"),
        "ExitCode": exit_code(status),
        "Command": str_of(r, "command"),
    })
}

/// An `image.list` row as Reagent's `get_images` named it. The engine's listing does not
/// count containers or shared bytes unless asked, and says -1 then, as here.
fn image(r: &Value) -> Value {
    let size = r.get("size_bytes").and_then(Value::as_i64).unwrap_or(0);
    json!({
        "created": r.get("created").and_then(Value::as_i64).unwrap_or(0),
        "containers": -1,
        "sharedSize": -1,
        "virtualSize": size,
        "id": str_of(r, "id"),
        "labels": r.get("labels").cloned().unwrap_or_else(|| json!({})),
        "size": size,
        "repoTags": r.get("tags").cloned().unwrap_or_else(|| json!([])),
    })
}

/// `image.prune`'s output as the engine's prune report.
fn prune(out: &Value) -> Value {
    let list = |k: &str| -> Vec<Value> {
        out.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut deleted: Vec<Value> = list("untagged")
        .into_iter()
        .map(|u| json!({"Untagged": u}))
        .collect();
    deleted.extend(list("deleted").into_iter().map(|d| json!({"Deleted": d})));
    json!({
        "ImagesDeleted": deleted,
        "SpaceReclaimed": out.get("space_reclaimed_bytes").and_then(Value::as_i64).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue19_job_outputs_in_reagents_shapes() {
        let rows = json!([{"id": "abc", "name": "prod_1_app", "image": "busybox:local",
            "image_id": "sha256:ff", "command": "sleep 60", "state": "exited",
            "status": "Exited (137) 2 seconds ago", "created": 5, "labels": {"real": "True"}}]);
        let p = shape(Shape::Containers, &rows, &Extra::default()).unwrap();
        assert_eq!(p.args.len(), 1);
        assert_eq!(
            p.args[0][0],
            json!({"ID": "abc", "Names": ["/prod_1_app"], "ImageID": "sha256:ff",
                "Labels": {"real": "True"}, "Status": "Exited (137) 2 seconds ago",
                "State": "exited", "ExitCode": 137, "Command": "sleep 60"})
        );
        let imgs = json!([{"id": "sha256:1", "tags": ["a:1"], "digests": [], "created": 9,
            "size_bytes": 100, "labels": {}}, {"id": "sha256:2", "tags": [], "digests": [],
            "created": 1, "size_bytes": 7, "labels": {}}]);
        let p = shape(Shape::Images, &imgs, &Extra::default()).unwrap();
        assert_eq!(p.args.len(), 2, "one argument per image");
        assert_eq!(p.args[0]["repoTags"], json!(["a:1"]));
        assert_eq!(p.args[1]["size"], 7);
        let p = shape(
            Shape::Prune,
            &json!({"untagged": ["a:1"], "deleted": ["sha256:1"], "space_reclaimed_bytes": 42}),
            &Extra::default(),
        )
        .unwrap();
        assert_eq!(
            p.args[0],
            json!({"ImagesDeleted": [{"Untagged": "a:1"}, {"Deleted": "sha256:1"}], "SpaceReclaimed": 42})
        );
        let links = json!([
            {"name": "lo", "index": 1, "mac": "00:00:00:00:00:00", "ethernet": false, "loopback": true, "up": true,
             "addresses": [{"ip": "127.0.0.1", "prefix": 8}, {"ip": "::1", "prefix": 128}]},
            {"name": "eth0", "index": 2, "mac": "02:00:00:00:00:01", "ethernet": true, "loopback": false, "up": true,
             "addresses": [{"ip": "10.0.0.2", "prefix": 24}, {"ip": "fe80::1", "prefix": 64}]},
            {"name": "wlan0", "index": 3, "mac": "02:00:00:00:00:02", "ethernet": false, "loopback": false, "up": false,
             "addresses": [{"ip": "192.168.1.5", "prefix": 24}]}
        ]);
        let p = shape(Shape::Ipv4, &links, &Extra::default()).unwrap();
        assert_eq!(
            p.args,
            vec![
                json!([{"interfaceName": "eth0", "ip": "10.0.0.2"}, {"interfaceName": "wlan0", "ip": "192.168.1.5"}])
            ]
        );
        let p = shape(Shape::Ethernet, &links, &Extra::default()).unwrap();
        assert_eq!(
            p.args,
            vec![
                json!({"interfaceName": "eth0", "mac": "02:00:00:00:00:01", "ipv4": "10.0.0.2", "ipv6": "fe80::1", "method": "unknown"})
            ]
        );
        assert_eq!(exit_code("Up 3 minutes"), 0);
        assert_eq!(exit_code("Exited (x) now"), 0);
    }
}
