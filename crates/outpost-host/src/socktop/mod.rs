//! socktop's `/ws` wire format, so socktop's TUI and connector can use
//! Outpost as their agent. This is an edge adapter: it turns a request frame
//! into a reply frame and knows nothing of sockets.
//!
//! Field names and types mirror socktop_agent 1.60 (`types.rs`,
//! `proto/processes.proto`, `ws.rs`): JSON replies longer than 768 bytes and
//! protobuf replies longer than 768 bytes are gzipped and sent binary. The
//! process view's replies (`get_process_metrics:PID`,
//! `get_journal_entries:PID`) are in [`detail`].
//!
//! Replies of the cached groups (metrics, disks, processes) are encoded once
//! per cached value and handed out as shared bytes ([`frames`]).

pub mod detail;
mod disks;
pub(crate) mod frames;
mod gzip;

use gzip::gzip;

pub use disks::disk_infos;

use crate::processes::ProcessList;
use crate::{Host, HostMetrics};
use bytes::Bytes;
use serde::Serialize;

/// Replies up to this many bytes go as they are; longer ones are gzipped.
pub const COMPRESSION_THRESHOLD: usize = 768;

/// A WebSocket frame as received, borrowed from the socket's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A text frame.
    Text(&'a str),
    /// A binary frame.
    Binary(&'a [u8]),
}

/// A frame to send back. Both kinds are reference-counted bytes: a reply
/// served from cache shares the stored frame instead of copying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// JSON in a text frame.
    Text(TextFrame),
    /// Gzipped JSON, or (gzipped) protobuf, in a binary frame.
    Binary(Bytes),
}

impl Reply {
    /// A text frame.
    pub fn text(json: String) -> Reply {
        Reply::Text(TextFrame(Bytes::from(json)))
    }

    /// A binary frame.
    pub fn binary(bytes: Vec<u8>) -> Reply {
        Reply::Binary(Bytes::from(bytes))
    }

    /// The frame's payload, shared (a reference count, not a copy).
    pub fn bytes(&self) -> &Bytes {
        match self {
            Reply::Text(t) => &t.0,
            Reply::Binary(b) => b,
        }
    }
}

/// A text frame's payload: UTF-8 by construction (it is only made from a
/// `String`), shared like [`Bytes`]. Reads as `&str`.
#[derive(Clone, PartialEq, Eq)]
pub struct TextFrame(Bytes);

impl TextFrame {
    /// The text.
    pub fn as_str(&self) -> &str {
        // Built from a String only, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The shared bytes, for a WebSocket library's UTF-8 frame type.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl std::ops::Deref for TextFrame {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for TextFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for TextFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// What a socktop client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `get_metrics`: fast metrics.
    Metrics,
    /// `get_disks`: filesystems.
    Disks,
    /// `get_processes`: the process table, as protobuf.
    Processes,
    /// `get_process_metrics:PID`: one process in detail.
    ProcessMetrics(u32),
    /// `get_journal_entries:PID`: one process's journal.
    JournalEntries(u32),
}

impl Request {
    /// Whether answering reads more than a few small files (the process
    /// table, one process's tree, journalctl): async callers run these on
    /// a blocking thread.
    pub fn is_heavy(&self) -> bool {
        !matches!(self, Request::Metrics | Request::Disks)
    }
}

/// Why a frame is not a request we answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Text that is neither a known command nor a JSON request.
    #[error("unknown request; expected get_metrics, get_disks, get_processes, get_process_metrics:PID, get_journal_entries:PID or {{\"type\":\"metrics|disks|processes|process_metrics|journal_entries\"}}")]
    UnknownRequest,
    /// A per-process request whose pid is not a number from 1 to 2^32-1.
    #[error("{request}: pid must be a number from 1 to 4294967295, got {text:?}")]
    BadPid {
        /// `get_process_metrics` or `get_journal_entries`.
        request: &'static str,
        /// What was sent as the pid, cut to 32 characters.
        text: String,
    },
    /// socktop clients send only text frames.
    #[error("binary request frames are not accepted")]
    BinaryFrame,
}

/// The JSON request form, `{"type":"metrics"}` or
/// `{"type":"process_metrics","pid":42}` (socktop_connector's `AgentRequest`).
#[derive(serde::Deserialize)]
struct JsonRequest {
    /// `metrics`, `disks`, `processes`, `process_metrics` or `journal_entries`.
    #[serde(rename = "type")]
    kind: String,
    /// The process, for the per-process kinds; any JSON, checked here.
    #[serde(default)]
    pid: Option<serde_json::Value>,
}

/// The per-process requests' names, as socktop_agent reports them in errors.
const PROCESS_METRICS: &str = "get_process_metrics";
const JOURNAL_ENTRIES: &str = "get_journal_entries";

fn pid_from(request: &'static str, text: &str) -> Result<u32, WireError> {
    match text.parse::<u32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(WireError::BadPid {
            request,
            text: text.chars().take(32).collect(),
        }),
    }
}

/// Reads a request frame. Never panics, whatever the bytes.
pub fn parse_request(frame: Frame<'_>) -> Result<Request, WireError> {
    let text = match frame {
        Frame::Text(t) => t.trim(),
        Frame::Binary(_) => return Err(WireError::BinaryFrame),
    };
    match text {
        "get_metrics" => return Ok(Request::Metrics),
        "get_disks" => return Ok(Request::Disks),
        "get_processes" => return Ok(Request::Processes),
        _ => {}
    }
    if let Some(pid) = text.strip_prefix("get_process_metrics:") {
        return pid_from(PROCESS_METRICS, pid).map(Request::ProcessMetrics);
    }
    if let Some(pid) = text.strip_prefix("get_journal_entries:") {
        return pid_from(JOURNAL_ENTRIES, pid).map(Request::JournalEntries);
    }
    if text.starts_with('{') {
        if let Ok(req) = serde_json::from_str::<JsonRequest>(text) {
            let pid = |request| {
                let raw = req.pid.as_ref().map_or(String::new(), |v| v.to_string());
                pid_from(request, &raw)
            };
            match req.kind.as_str() {
                "metrics" => return Ok(Request::Metrics),
                "disks" => return Ok(Request::Disks),
                "processes" => return Ok(Request::Processes),
                "process_metrics" => return pid(PROCESS_METRICS).map(Request::ProcessMetrics),
                "journal_entries" => return pid(JOURNAL_ENTRIES).map(Request::JournalEntries),
                _ => {}
            }
        }
    }
    Err(WireError::UnknownRequest)
}

/// Answers one frame from the host's caches. Every frame gets exactly one
/// reply: an error is a JSON `{"error": ...}` text frame.
pub fn answer(host: &Host, frame: Frame<'_>) -> Reply {
    match parse_request(frame) {
        Ok(request) => answer_request(host, request),
        Err(e @ WireError::BadPid { request, .. }) => {
            detail::pid_error_reply(&e.to_string(), request, None)
        }
        Err(e) => error_reply(&e.to_string()),
    }
}

/// Answers a parsed request, collecting what is not cached (blocking: the
/// process list reads every /proc/PID, see [`Request::is_heavy`]). Metrics,
/// disks and processes come from their stored frame while their value is
/// fresh.
pub fn answer_request(host: &Host, request: Request) -> Reply {
    let frames = host.frames();
    let result = match request {
        Request::Metrics => host
            .metrics()
            .map(|m| frames.metrics.get(m, |m| metrics_reply(m))),
        Request::Disks => host.disks().map(|d| {
            // Disk temperatures come from the fast metrics' hwmon scan while those are
            // cached, else from a scan of their own: collecting all the metrics for them (as
            // before issue 11) was most of an uncached get_disks and moved the CPU baseline
            // of the next get_metrics. The frame is kept with the disks, so its temperatures
            // are at most the disks' TTL old.
            let metrics = host.fresh_metrics();
            let sys_root = &host.config().sys_root;
            frames.disks.get((d, metrics), |(d, m)| {
                let scanned;
                let temps = match m {
                    Some(m) => &m.temperatures[..],
                    None => {
                        scanned = crate::temps::collect(sys_root);
                        &scanned[..]
                    }
                };
                json_reply(&disk_infos(d, temps, sys_root))
            })
        }),
        Request::Processes => host
            .processes()
            .map(|p| frames.processes.get(p, |p| processes_reply(p))),
        Request::ProcessMetrics(pid) => {
            return match host.process_detail(pid) {
                Ok(d) => json_reply(&detail::process_metrics(&d)),
                Err(e) => detail::pid_error_reply(&e.to_string(), PROCESS_METRICS, Some(pid)),
            }
        }
        Request::JournalEntries(pid) => {
            return match host.journal(pid) {
                Ok(j) => json_reply(&detail::journal(&j)),
                Err(e) => detail::pid_error_reply(&e.to_string(), JOURNAL_ENTRIES, Some(pid)),
            }
        }
    };
    result.unwrap_or_else(|e| error_reply(&e.to_string()))
}

/// The reply from the caches alone: Some when the request's value is fresh
/// and its frame is stored. Never collects, never encodes, never waits on a
/// lock, so an async caller can answer a hit inline, even for the process
/// list, and keep the blocking pool for misses.
pub fn cached_reply(host: &Host, request: Request) -> Option<Reply> {
    let frames = host.frames();
    match request {
        Request::Metrics => frames.metrics.try_get(&host.fresh_metrics()?),
        Request::Processes => frames.processes.try_get(&host.fresh_processes()?),
        Request::Disks => frames
            .disks
            .try_get(&(host.fresh_disks()?, host.fresh_metrics())),
        Request::ProcessMetrics(_) | Request::JournalEntries(_) => None,
    }
}

/// A JSON error frame socktop's connector shows instead of hanging.
pub fn error_reply(message: &str) -> Reply {
    json_reply(&serde_json::json!({ "error": message }))
}

/// JSON, gzipped into a binary frame when longer than the threshold.
pub fn json_reply<T: Serialize + ?Sized>(value: &T) -> Reply {
    let json = match serde_json::to_string(value) {
        Ok(j) => j,
        // Only non-string map keys fail, and our types have none.
        Err(e) => format!("{{\"error\":\"encoding reply: {e}\"}}"),
    };
    if json.len() <= COMPRESSION_THRESHOLD {
        return Reply::text(json);
    }
    match gzip(json.as_bytes()) {
        Some(bin) => Reply::binary(bin),
        None => Reply::text(json),
    }
}

/// socktop's `Metrics`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Epoch ms of collection; socktop computes network rates from it.
    pub sampled_at_ms: u64,
    /// Busy percent of all cores.
    pub cpu_total: f32,
    /// Busy percent of each core.
    pub cpu_per_core: Vec<f32>,
    /// RAM, bytes.
    pub mem_total: u64,
    /// RAM minus available, bytes.
    pub mem_used: u64,
    /// Swap, bytes.
    pub swap_total: u64,
    /// Swap in use, bytes.
    pub swap_used: u64,
    /// Host name.
    pub hostname: String,
    /// CPU package temperature when a sensor exists.
    pub cpu_temp_c: Option<f32>,
    /// Always empty: socktop asks `get_disks` separately.
    pub disks: Vec<DiskInfo>,
    /// Cumulative interface byte counters.
    pub networks: Vec<NetworkInfo>,
    /// Always empty: socktop asks `get_processes` separately.
    pub top_processes: Vec<ProcessInfo>,
    /// None when there is no GPU, as socktop_agent sends.
    pub gpus: Option<Vec<GpuMetrics>>,
}

/// socktop's `DiskInfo`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskInfo {
    /// Device name; a parent disk's name for the aggregated rows.
    pub name: String,
    /// Bytes.
    pub total: u64,
    /// Bytes available.
    pub available: u64,
    /// NVMe composite temperature when known.
    pub temperature: Option<f32>,
    /// The UI indents partitions under their disk.
    pub is_partition: bool,
}

/// socktop's `NetworkInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkInfo {
    /// Interface name.
    pub name: String,
    /// Cumulative bytes received.
    pub received: u64,
    /// Cumulative bytes transmitted.
    pub transmitted: u64,
}

/// socktop's `ProcessInfo` (JSON form, used only in `Metrics.top_processes`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Name.
    pub name: String,
    /// CPU percent of the whole machine.
    pub cpu_usage: f32,
    /// RSS bytes.
    pub mem_bytes: u64,
}

/// socktop's `GpuMetrics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuMetrics {
    /// Model name.
    pub name: String,
    /// Busy percent.
    pub utilization_gpu_pct: u32,
    /// Memory used, bytes.
    pub mem_used_bytes: u64,
    /// Memory, bytes.
    pub mem_total_bytes: u64,
}

/// socktop's protobuf `Processes` (package `socktop`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Processes {
    /// Total processes on the host.
    #[prost(uint64, tag = "1")]
    pub process_count: u64,
    /// All processes; the client sorts.
    #[prost(message, repeated, tag = "2")]
    pub rows: Vec<Process>,
}

/// socktop's protobuf `Process`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Process {
    /// Process id.
    #[prost(uint32, tag = "1")]
    pub pid: u32,
    /// Name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// 0..100, share of the whole machine.
    #[prost(float, tag = "3")]
    pub cpu_usage: f32,
    /// RSS bytes.
    #[prost(uint64, tag = "4")]
    pub mem_bytes: u64,
}

/// The fast metrics in socktop's shape.
pub fn metrics(m: &HostMetrics) -> Metrics {
    Metrics {
        sampled_at_ms: m.sampled_at_ms,
        cpu_total: m.cpu.total_percent,
        cpu_per_core: m.cpu.per_core_percent.clone(),
        mem_total: m.memory.total_bytes,
        mem_used: m.memory.used_bytes(),
        swap_total: m.memory.swap_total_bytes,
        swap_used: m.memory.swap_used_bytes(),
        hostname: m.hostname.clone(),
        cpu_temp_c: crate::temps::cpu_temperature(&m.temperatures),
        disks: Vec::new(),
        networks: m
            .networks
            .iter()
            .map(|n| NetworkInfo {
                name: n.name.clone(),
                received: n.rx_bytes,
                transmitted: n.tx_bytes,
            })
            .collect(),
        top_processes: Vec::new(),
        gpus: if m.gpus.is_empty() {
            None
        } else {
            Some(
                m.gpus
                    .iter()
                    .map(|g| GpuMetrics {
                        name: g.name.clone(),
                        utilization_gpu_pct: g.utilization_percent,
                        mem_used_bytes: g.memory_used_bytes,
                        mem_total_bytes: g.memory_total_bytes,
                    })
                    .collect(),
            )
        },
    }
}

/// The `get_metrics` reply.
pub fn metrics_reply(m: &HostMetrics) -> Reply {
    json_reply(&metrics(m))
}

/// The process table as socktop's protobuf.
pub fn processes(list: &ProcessList) -> Processes {
    Processes {
        process_count: list.rows.len() as u64,
        rows: list
            .rows
            .iter()
            .map(|p| Process {
                pid: p.pid,
                name: p.name.clone(),
                cpu_usage: p.cpu_percent,
                mem_bytes: p.rss_bytes,
            })
            .collect(),
    }
}

/// The `get_processes` reply: protobuf, gzipped when longer than the threshold.
pub fn processes_reply(list: &ProcessList) -> Reply {
    let buf = prost::Message::encode_to_vec(&processes(list));
    if buf.len() <= COMPRESSION_THRESHOLD {
        return Reply::binary(buf);
    }
    Reply::binary(gzip(&buf).unwrap_or(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse() {
        assert_eq!(
            parse_request(Frame::Text("get_metrics")),
            Ok(Request::Metrics)
        );
        assert_eq!(
            parse_request(Frame::Text(r#"{"type":"processes"}"#)),
            Ok(Request::Processes)
        );
        assert_eq!(
            parse_request(Frame::Text(r#"{"type":"disks","extra":1}"#)),
            Ok(Request::Disks)
        );
        assert_eq!(
            parse_request(Frame::Text("get_process_metrics:1")),
            Ok(Request::ProcessMetrics(1))
        );
        assert_eq!(
            parse_request(Frame::Text("get_journal_entries:4294967295")),
            Ok(Request::JournalEntries(u32::MAX))
        );
        assert_eq!(
            parse_request(Frame::Text(r#"{"type":"process_metrics","pid":7}"#)),
            Ok(Request::ProcessMetrics(7))
        );
        for bad in [
            "get_process_metrics:",
            "get_process_metrics:abc",
            "get_process_metrics:0",
            "get_process_metrics:-1",
            "get_process_metrics:4294967296",
            "get_process_metrics:99999999999999999999999999999999999999999",
        ] {
            assert!(
                matches!(
                    parse_request(Frame::Text(bad)),
                    Err(WireError::BadPid { request: "get_process_metrics", ref text }) if text.len() <= 32
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_request(Frame::Text(r#"{"type":"journal_entries","pid":"x"}"#)),
            Err(WireError::BadPid {
                request: "get_journal_entries",
                ..
            })
        ));
        assert!(matches!(
            parse_request(Frame::Text(r#"{"type":"journal_entries"}"#)),
            Err(WireError::BadPid { .. })
        ));
        assert_eq!(
            parse_request(Frame::Text(r#"{"type":"x"}"#)),
            Err(WireError::UnknownRequest)
        );
        assert_eq!(
            parse_request(Frame::Binary(b"get_metrics")),
            Err(WireError::BinaryFrame)
        );
    }
}
