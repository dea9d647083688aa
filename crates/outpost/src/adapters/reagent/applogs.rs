//! The log procedures (../shared/compat/reagent.md §3 "Logs"):
//!
//! - `get_app_log_history {containerName}` → a `container.logs` job (the last 50 lines) →
//!   `[[line…]]`;
//! - `query_app_logs {containerName, tail (200, at most 5000), offset, since, until,
//!   timestamps}` → a `container.logs` job → `[{lines, source, returned, truncated,
//!   device_time}]`; a time is RFC 3339, Unix seconds, or a duration (`90s`, `10m`,
//!   `1h30m`) meaning that long ago;
//! - `query_device_logs {tail (300), since, until, level}` → the agent's own log file
//!   (`reagent.device_log_file`, its last [`DEVICE_LOG_WINDOW`] bytes) → `[{lines,
//!   returned, truncated, files_scanned, device_time}]`; `level` keeps that level and the
//!   ones above it.
//!
//! Bad arguments are an error reply naming the argument.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use outpost_proto::wamp::Payload;
use serde_json::{json, Map, Value};

use super::jobs::{JobCall, Shape};

/// Lines `get_app_log_history` returns (Reagent's Docker tail).
pub const HISTORY_LINES: u64 = 50;
pub const QUERY_TAIL: u64 = 200;
pub const QUERY_TAIL_MAX: u64 = 5000;
pub const DEVICE_TAIL: u64 = 300;
/// How much of the device log file is read, from its end.
pub const DEVICE_LOG_WINDOW: u64 = 4 << 20;
const LOGS_TIMEOUT: Duration = Duration::from_secs(30);

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-01-02T03:04:05[.fff](Z|±hh:mm)` → Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &r[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// `1h30m`, `90s`, `2d` → seconds.
fn parse_duration(s: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut num = String::new();
    let mut any = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        any = true;
    }
    (num.is_empty() && any).then_some(total)
}

/// A `since`/`until` argument → Unix seconds: RFC 3339, Unix seconds (a number or its
/// text), or a duration meaning that long before `now`.
pub fn parse_time(v: &Value, now: i64) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .filter(|s| *s >= 0)
            .ok_or_else(|| format!("{n} is not a time (Unix seconds)")),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<i64>() {
                if n >= 0 {
                    return Ok(n);
                }
            }
            if let Some(t) = parse_rfc3339(s) {
                return Ok(t);
            }
            if let Some(d) = parse_duration(s) {
                return Ok((now - d).max(0));
            }
            Err(format!(
                "{:?} is not a time (RFC 3339, Unix seconds, or a duration such as 10m)",
                outpost_proto::bounded(s)
            ))
        }
        _ => Err("a time is a string or a number".into()),
    }
}

/// The kwargs, or a leading dict argument (what follows it is ignored, as Reagent's log and
/// terminal procedures do); shared with `terminal.rs`.
pub(super) fn args_dict<'a>(
    name: &str,
    payload: &'a Payload,
) -> Result<&'a Map<String, Value>, String> {
    if !payload.kwargs.is_empty() {
        return Ok(&payload.kwargs);
    }
    match payload.args.as_slice() {
        [Value::Object(o), ..] => Ok(o),
        [] => Err(format!("{name} needs a dict argument: no arguments")),
        _ => Err(format!("{name} takes one dict argument")),
    }
}

fn container_name(name: &str, d: &Map<String, Value>) -> Result<String, String> {
    match d.get("containerName") {
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= 255
                && !s.chars().any(|c| c.is_control() || c == ' ') =>
        {
            Ok(s.clone())
        }
        _ => Err(format!("{name}: containerName must be a container's name")),
    }
}

fn count(d: &Map<String, Value>, key: &str, default: u64, max: u64) -> Result<u64, String> {
    match d.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .map(|n| n.min(max))
            .ok_or_else(|| format!("{key} must be a non-negative integer")),
    }
}

fn optional_time(d: &Map<String, Value>, key: &str, now: i64) -> Result<Option<i64>, String> {
    match d.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(v) => parse_time(v, now)
            .map(Some)
            .map_err(|e| format!("{key}: {e}")),
    }
}

/// `get_app_log_history`'s job.
pub fn history(payload: &Payload) -> Result<JobCall, String> {
    let d = args_dict("get_app_log_history", payload)?;
    let id = container_name("get_app_log_history", d)?;
    Ok(JobCall {
        procedure: "get_app_log_history",
        kind: "container.logs",
        params: json!({"id": id, "tail": HISTORY_LINES}),
        timeout: LOGS_TIMEOUT,
        shape: Shape::LogHistory,
    })
}

/// `query_app_logs`'s job: the newest `tail + offset` lines are read, the newest `offset`
/// of them left out.
pub fn query(payload: &Payload) -> Result<JobCall, String> {
    let d = args_dict("query_app_logs", payload)?;
    let id = container_name("query_app_logs", d)?;
    let now = now_secs();
    let tail = count(d, "tail", QUERY_TAIL, QUERY_TAIL_MAX)?;
    let offset = count(d, "offset", 0, QUERY_TAIL_MAX)?;
    let since = optional_time(d, "since", now)?;
    let until = optional_time(d, "until", now)?;
    let timestamps = match d.get("timestamps") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("timestamps must be true or false".into()),
    };
    let mut params = json!({"id": id, "tail": tail + offset, "timestamps": timestamps});
    if let Some(s) = since {
        params["since"] = json!(s.min(i64::from(i32::MAX)));
    }
    if let Some(u) = until {
        params["until"] = json!(u.min(i64::from(i32::MAX)));
    }
    Ok(JobCall {
        procedure: "query_app_logs",
        kind: "container.logs",
        params,
        timeout: LOGS_TIMEOUT,
        shape: Shape::QueryLogs { tail, offset },
    })
}

fn line_text(l: &Value) -> String {
    let line = l.get("line").and_then(Value::as_str).unwrap_or_default();
    match l.get("ts").and_then(Value::as_str) {
        Some(ts) => format!("{ts} {line}"),
        None => line.to_owned(),
    }
}

/// A `container.logs` history as `get_app_log_history`'s `[[line…]]`.
pub fn shape_history(out: &Value) -> Payload {
    let lines: Vec<Value> = out
        .get("lines")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|l| json!(line_text(l))).collect())
        .unwrap_or_default();
    Payload::args(vec![Value::Array(lines)])
}

/// A `container.logs` history as `query_app_logs`'s reply.
pub fn shape_query(out: &Value, tail: u64, offset: u64) -> Payload {
    let all: Vec<String> = out
        .get("lines")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(line_text).collect())
        .unwrap_or_default();
    let dropped = out.get("dropped").and_then(Value::as_u64).unwrap_or(0);
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let tail = usize::try_from(tail).unwrap_or(usize::MAX);
    let end = all.len().saturating_sub(offset);
    let start = end.saturating_sub(tail);
    let lines = &all[start..end];
    // More may exist than were asked for: the engine gave as many as asked, or the
    // containers' own line cap dropped some.
    let truncated = dropped > 0 || start > 0 || (tail > 0 && all.len() >= tail + offset);
    Payload::args(vec![json!({
        "lines": lines,
        "source": "docker",
        "returned": lines.len(),
        "truncated": truncated,
        "device_time": super::procedures::rfc3339_now(),
    })])
}

/// What `query_device_logs` reads.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceQuery {
    pub tail: u64,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// The least severe level kept (0 error … 4 trace).
    pub level: Option<u8>,
}

const LEVELS: [&str; 5] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

pub fn device_query(payload: &Payload) -> Result<DeviceQuery, String> {
    let empty = Map::new();
    let d = if payload.kwargs.is_empty() && payload.args.is_empty() {
        &empty
    } else {
        args_dict("query_device_logs", payload)?
    };
    let now = now_secs();
    let level =
        match d.get("level") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => {
                let up = s.to_ascii_uppercase();
                let up = if up == "WARNING" { "WARN".into() } else { up };
                Some(
                    LEVELS.iter().position(|l| *l == up).ok_or_else(|| {
                        format!("level {s:?}: one of error, warn, info, debug, trace")
                    })? as u8,
                )
            }
            Some(_) => return Err("level must be a string".into()),
        };
    Ok(DeviceQuery {
        tail: count(d, "tail", DEVICE_TAIL, QUERY_TAIL_MAX)?,
        since: optional_time(d, "since", now)?,
        until: optional_time(d, "until", now)?,
        level,
    })
}

/// A log line's level (the first level word in it) and time (its first word, RFC 3339).
fn line_meta(line: &str) -> (Option<u8>, Option<i64>) {
    let mut words = line.split_whitespace();
    let time = words.clone().next().and_then(parse_rfc3339);
    let level = words.find_map(|w| {
        let w = w.trim_matches(|c: char| !c.is_ascii_alphabetic());
        LEVELS.iter().position(|l| l.eq_ignore_ascii_case(w))
    });
    (level.map(|l| l as u8), time)
}

/// Reads `path`'s last [`DEVICE_LOG_WINDOW`] bytes and answers `q` (blocking: run it off
/// the loop).
pub fn read_device_logs(path: &Path, q: &DeviceQuery) -> Result<Payload, String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f =
        std::fs::File::open(path).map_err(|e| format!("the device log {}: {e}", path.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(DEVICE_LOG_WINDOW);
    f.seek(SeekFrom::Start(from))
        .map_err(|e| format!("the device log {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    f.take(DEVICE_LOG_WINDOW)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("the device log {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    // A window that starts mid-file starts mid-line: that first piece is not a line.
    let mut truncated = from > 0;
    if from > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let kept: Vec<&str> = lines
        .into_iter()
        .filter(|l| {
            let (level, time) = line_meta(l);
            let level_ok = match (q.level, level) {
                (Some(max), Some(l)) => l <= max,
                (Some(_), None) => false,
                (None, _) => true,
            };
            let time_ok = match (q.since, q.until, time) {
                (None, None, _) => true,
                (_, _, None) => false,
                (s, u, Some(t)) => s.is_none_or(|s| t >= s) && u.is_none_or(|u| t < u),
            };
            level_ok && time_ok
        })
        .collect();
    let tail = usize::try_from(q.tail).unwrap_or(usize::MAX);
    let start = kept.len().saturating_sub(tail);
    truncated |= start > 0;
    let out = &kept[start..];
    Ok(Payload::args(vec![json!({
        "lines": out,
        "returned": out.len(),
        "truncated": truncated,
        "files_scanned": 1,
        "device_time": super::procedures::rfc3339_now(),
    })]))
}

/// Where `query_device_logs` reads, when configured.
pub type DeviceLog = Option<PathBuf>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue19_log_times_parse_three_ways() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-11-27T05:26:43.123Z"),
            Some(1_795_757_203)
        );
        assert_eq!(
            parse_rfc3339("2026-11-27T06:26:43+01:00"),
            Some(1_795_757_203)
        );
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-01-01",
            "2026-01-01T00:00:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(parse_time(&json!(5), 100), Ok(5));
        assert_eq!(parse_time(&json!("5"), 100), Ok(5));
        assert_eq!(parse_time(&json!("1m30s"), 1000), Ok(910));
        assert_eq!(parse_time(&json!("2h"), 1000), Ok(0));
        assert!(parse_time(&json!("soon"), 0).is_err());
        assert!(parse_time(&json!(-1), 0).is_err());
        assert!(parse_time(&json!([]), 0).is_err());
    }

    #[test]
    fn issue19_query_app_logs_arguments_and_shape() {
        let kw = |v: Value| Payload::args(vec![v]);
        let c = query(&kw(
            json!({"containerName": "prod_1_a", "tail": 99999, "offset": 2}),
        ))
        .unwrap();
        assert_eq!(c.params["tail"], json!(QUERY_TAIL_MAX + 2));
        assert_eq!(
            c.shape,
            Shape::QueryLogs {
                tail: QUERY_TAIL_MAX,
                offset: 2
            }
        );
        for bad in [
            json!({}),
            json!({"containerName": ""}),
            json!({"containerName": "a b"}),
            json!({"containerName": "a", "tail": -1}),
            json!({"containerName": "a", "since": "whenever"}),
            json!({"containerName": "a", "timestamps": "yes"}),
        ] {
            assert!(query(&kw(bad.clone())).is_err(), "{bad}");
        }
        assert!(query(&Payload::default()).is_err());
        assert!(history(&Payload::args(vec![json!("x")])).is_err());
        let out = json!({"lines": [{"stream": "stdout", "line": "a"}, {"stream": "stdout", "line": "b"},
            {"stream": "stdout", "line": "c"}, {"stream": "stdout", "line": "d"}], "dropped": 0});
        let p = shape_query(&out, 2, 1);
        assert_eq!(p.args[0]["lines"], json!(["b", "c"]));
        assert_eq!(p.args[0]["returned"], 2);
        assert_eq!(p.args[0]["truncated"], true);
        let p = shape_query(&out, 10, 0);
        assert_eq!(p.args[0]["returned"], 4);
        assert_eq!(p.args[0]["truncated"], false);
        assert_eq!(shape_history(&out).args[0], json!(["a", "b", "c", "d"]));
    }

    #[test]
    fn issue19_device_logs_filter_by_level_time_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent.log");
        std::fs::write(
            &p,
            "2026-01-01T00:00:00Z  INFO outpost: one\n2026-01-01T00:00:10Z  WARN outpost: two\n\
             2026-01-01T00:00:20Z ERROR outpost: three\nno time here\n",
        )
        .unwrap();
        let q = |v: Value| device_query(&Payload::args(vec![v])).unwrap();
        let lines = |q: DeviceQuery| read_device_logs(&p, &q).unwrap().args[0].clone();
        assert_eq!(lines(q(json!({})))["returned"], 4);
        let r = lines(q(json!({"level": "warn"})));
        assert_eq!(r["returned"], 2, "{r}");
        let r = lines(q(
            json!({"since": "2026-01-01T00:00:05Z", "until": "2026-01-01T00:00:20Z"}),
        ));
        assert_eq!(
            r["lines"],
            json!(["2026-01-01T00:00:10Z  WARN outpost: two"])
        );
        let r = lines(q(json!({"tail": 1})));
        assert_eq!(r["lines"], json!(["no time here"]));
        assert_eq!(r["truncated"], true);
        assert!(device_query(&Payload::args(vec![json!({"level": "loud"})])).is_err());
        assert!(device_query(&Payload::default()).is_ok());
        assert!(read_device_logs(&dir.path().join("none"), &q(json!({}))).is_err());
    }
}
