//! Towerops checks (`check_jobs`, CheckList) as the probes' `check.http`, `check.tcp`,
//! `check.dns` and `check.tls` jobs, scheduled locally like recurring jobs
//! (`inventory.rs`), answered on `check_result` with Towerops' statuses and output strings
//! (../shared/compat/towerops.md §6), decided here from what the check found (its
//! `details`), not from the check's own Nagios wording:
//!
//! - http: the status must equal `expected_status` (200) → else 2 `HTTP x, expected y`; a
//!   request error → 2; a regex not matching → 2; a body over 1 MiB with a regex → 3;
//!   OK `HTTP n OK`. `verify_ssl` and `follow_redirects` as the wire says (both false by
//!   proto default, as in the original).
//! - tcp: connect failure → 2; `expect` missing from the answer (≤ 64 KiB read) → 2 with
//!   the printable answer cut to 256 bytes; OK `TCP port N open`.
//! - dns: A, AAAA, CNAME, MX, TXT (A by default), others → 3; error or no records → 2;
//!   `expected` must equal one answer (names without trailing dots, MX also by host
//!   alone) → else 2; OK `Resolved to: a, b`.
//! - ssl: port 443, 30 warning days by default; no handshake → 3; expired, not yet valid,
//!   untrusted or the wrong name → 2; ≤ warning days left → 1; else 0, output
//!   `OK: Certificate for h:p valid for N days (date)`.
//!
//! A check that cannot become a job (no config, an unknown type, a value the check
//! refuses) is answered once with status 3 when the list arrives.

use std::time::Duration;

use outpost_core::{JobRecord, JobSpec, JobState};
use outpost_proto::towerops::{
    check_status, event, frame::binary_base64, Check, CheckConfig, CheckResult,
};
use serde_json::{json, Value};

use super::job::{unix_now, OutFrame};

/// The check kinds this adapter submits.
pub const KINDS: [&str; 4] = ["check.http", "check.tcp", "check.dns", "check.tls"];
/// The original's per-check default timeout.
const DEFAULT_TIMEOUT_MS: u32 = 10_000;
/// The original's body limit for a regex.
const MAX_BODY: u64 = 1 << 20;
/// The original's read limit for `expect`.
const MAX_TCP_READ: u64 = 64 << 10;

/// A `check_result` frame.
pub fn result(check_id: &str, status: u32, output: String, response_time_ms: f64) -> OutFrame {
    OutFrame {
        event: event::CHECK_RESULT.into(),
        binary: binary_base64(&CheckResult {
            check_id: check_id.to_owned(),
            status,
            output,
            response_time_ms,
            timestamp: unix_now(),
        }),
    }
}

fn unknown(c: &Check, why: impl Into<String>) -> OutFrame {
    result(&c.id, check_status::UNKNOWN, why.into(), 0.0)
}

/// The job a check runs at each tick, or the `check_result` (status 3) answering it.
pub fn spec(c: &Check) -> Result<JobSpec, OutFrame> {
    let timeout_ms = if c.timeout_ms > 0 {
        c.timeout_ms
    } else {
        DEFAULT_TIMEOUT_MS
    }
    .min(outpost_checks::spec::MAX_TIMEOUT_MS as u32);
    let (kind, params) = match (&c.config, c.check_type.trim()) {
        (Some(CheckConfig::Http(h)), "http") => {
            let expected = if h.expected_status == 0 {
                200
            } else {
                h.expected_status
            };
            let mut p = json!({
                "url": h.url,
                "expect_status": expected,
                "verify_tls": h.verify_ssl,
                "follow_redirects": h.follow_redirects,
                "max_body_bytes": MAX_BODY + 1,
                "headers": h.headers,
            });
            if !h.method.trim().is_empty() {
                p["method"] = h.method.trim().to_ascii_uppercase().into();
            }
            if !h.body.is_empty() {
                p["body"] = h.body.clone().into();
            }
            if !h.regex.is_empty() {
                p["regex"] = h.regex.clone().into();
            }
            ("check.http", p)
        }
        (Some(CheckConfig::Tcp(t)), "tcp") => {
            let Ok(port) = u16::try_from(t.port) else {
                return Err(unknown(c, format!("invalid port {}", t.port)));
            };
            let mut p = json!({"host": t.host, "port": port});
            if !t.send.is_empty() {
                p["send"] = t.send.clone().into();
            }
            if !t.expect.is_empty() {
                p["expect"] = t.expect.clone().into();
                p["max_bytes"] = MAX_TCP_READ.into();
                p["mismatch"] = "critical".into();
            }
            ("check.tcp", p)
        }
        (Some(CheckConfig::Dns(d)), "dns") => {
            let rtype = match d.record_type.trim().to_ascii_uppercase().as_str() {
                "" | "A" => "A",
                "AAAA" => "AAAA",
                "CNAME" => "CNAME",
                "MX" => "MX",
                "TXT" => "TXT",
                other => {
                    return Err(unknown(c, format!("unsupported record type {other:?}")));
                }
            };
            let mut p = json!({"hostname": d.hostname, "record_type": rtype});
            if !d.server.trim().is_empty() {
                p["server"] = d.server.trim().to_owned().into();
            }
            // `expected` is compared here (one answer equal, MX by host too), not by the
            // check, whose rule is "every expected value present".
            ("check.dns", p)
        }
        (Some(CheckConfig::Ssl(s)), "ssl") => {
            let port = if s.port == 0 { 443 } else { s.port };
            let Ok(port) = u16::try_from(port) else {
                return Err(unknown(c, format!("invalid port {port}")));
            };
            // Statuses by days are decided here (≤ warning_days); the check's own
            // thresholds are left at "critical once expired".
            let p = json!({"host": s.host, "port": port, "warn_days": 0, "crit_days": 0});
            ("check.tls", p)
        }
        (None, t) => return Err(unknown(c, format!("check {t:?} has no configuration"))),
        (Some(_), t) => return Err(unknown(c, format!("unknown check type {t:?}"))),
    };
    let mut params = params;
    params["timeout_ms"] = timeout_ms.into();
    Ok(JobSpec {
        id: None,
        kind: kind.into(),
        params,
        timeout: Duration::from_millis(u64::from(timeout_ms)) + Duration::from_secs(5),
        source: format!("towerops.check:{}", c.id),
    })
}

/// What the Towerops wire needs from a check to judge its result beyond the job's output:
/// kept in the schedule's labels.
pub fn labels(c: &Check) -> Vec<(&'static str, String)> {
    let mut out = vec![(LABEL_ID, c.id.clone())];
    match &c.config {
        Some(CheckConfig::Http(h)) => out.push((
            LABEL_EXPECT,
            if h.expected_status == 0 {
                "200".into()
            } else {
                h.expected_status.to_string()
            },
        )),
        Some(CheckConfig::Dns(d)) => out.push((LABEL_EXPECT, d.expected.clone())),
        Some(CheckConfig::Tcp(t)) => out.push((LABEL_EXPECT, t.port.to_string())),
        Some(CheckConfig::Ssl(s)) => out.push((
            LABEL_EXPECT,
            if s.warning_days == 0 {
                "30".into()
            } else {
                s.warning_days.to_string()
            },
        )),
        None => {}
    }
    out
}

/// The label holding the check id.
pub const LABEL_ID: &str = "towerops.check";
/// The label holding what the result is judged against: the expected HTTP status, the
/// TCP port, the expected DNS answer, the SSL warning days.
pub const LABEL_EXPECT: &str = "towerops.expect";

/// The `check_result` answering finished check job `rec` for check `id`, judged against
/// `expect` (the [`LABEL_EXPECT`] label).
pub fn answer(rec: &JobRecord, id: &str, expect: &str) -> OutFrame {
    let out = (rec.state == JobState::Succeeded)
        .then(|| rec.output.as_ref().map(|o| o.to_value()))
        .flatten();
    let Some(out) = out else {
        let why = rec
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.code, e.message))
            .unwrap_or_else(|| format!("check {}", rec.state.as_str()));
        return result(id, check_status::UNKNOWN, why, 0.0);
    };
    let rt = out["response_time_ms"].as_f64().unwrap_or(0.0);
    let d = &out["details"];
    let own = out["output"].as_str().unwrap_or_default().to_owned();
    let (status, text) = match rec.kind.as_str() {
        "check.http" => http(d, expect, own),
        "check.tcp" => tcp(d, expect, own),
        "check.dns" => dns(d, expect, own),
        "check.tls" => tls_with_days(d, own, expect.parse().unwrap_or(30)),
        other => (check_status::UNKNOWN, format!("unknown check kind {other}")),
    };
    result(id, status, text, rt)
}

fn http(d: &Value, expect: &str, own: String) -> (u32, String) {
    let Some(code) = d["http_status"].as_u64() else {
        return (check_status::CRITICAL, own);
    };
    let expected: u64 = expect.parse().unwrap_or(200);
    if code != expected {
        return (
            check_status::CRITICAL,
            format!("HTTP {code}, expected {expected}"),
        );
    }
    match d["regex_matched"].as_bool() {
        Some(_) if d["truncated"].as_bool() == Some(true) => (
            check_status::UNKNOWN,
            format!("HTTP {code}: body over {MAX_BODY} bytes, regex not applied"),
        ),
        Some(false) => (
            check_status::CRITICAL,
            format!("HTTP {code}: body does not match regex"),
        ),
        _ => (check_status::OK, format!("HTTP {code} OK")),
    }
}

fn printable(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut end = clean.len().min(256);
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    clean[..end].to_owned()
}

fn tcp(d: &Value, port: &str, own: String) -> (u32, String) {
    if d.get("connect_error").is_some()
        || d.get("resolve_error").is_some()
        || d.get("send_error").is_some()
        || d["timeout"].as_bool() == Some(true)
    {
        return (check_status::CRITICAL, own);
    }
    if d["expect_found"].as_bool() == Some(false) {
        let got = printable(d["response"].as_str().unwrap_or_default());
        return (
            check_status::CRITICAL,
            format!("TCP port {port}: unexpected response: {got}"),
        );
    }
    (check_status::OK, format!("TCP port {port} open"))
}

/// A DNS name or answer for comparison: no trailing dot, lowercase.
fn norm(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn dns(d: &Value, expected: &str, own: String) -> (u32, String) {
    let answers: Vec<String> = d["answers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let rcode = d["rcode"].as_str().unwrap_or_default();
    // hickory's spelling ("No Error", "Non-Existent Domain"), compared loosely.
    let no_error = rcode.replace(' ', "").eq_ignore_ascii_case("noerror");
    if d.get("rcode").is_none() || answers.is_empty() || !no_error {
        let why = if answers.is_empty() && d.get("rcode").is_some() {
            format!("No records found ({rcode})")
        } else {
            own
        };
        return (check_status::CRITICAL, why);
    }
    let list = answers.join(", ");
    if !expected.is_empty() {
        let want = norm(expected);
        let hit = answers.iter().any(|a| {
            let a = norm(a);
            // MX answers are `PRIORITY HOST`: the host alone matches too.
            a == want
                || a.split_once(' ')
                    .is_some_and(|(_, host)| norm(host) == want)
        });
        if !hit {
            return (
                check_status::CRITICAL,
                format!("Expected {expected}, got: {list}"),
            );
        }
    }
    (check_status::OK, format!("Resolved to: {list}"))
}

fn tls(d: &Value, own: String) -> (u32, String) {
    let Some(days) = d["days_left"].as_i64() else {
        return (check_status::UNKNOWN, own);
    };
    let sni = d["sni"].as_str().unwrap_or_default();
    let port = d["address"]
        .as_str()
        .and_then(|a| a.rsplit_once(':'))
        .map(|(_, p)| p)
        .unwrap_or("443");
    let at = format!("{sni}:{port}");
    let until = d["not_after"].as_str().unwrap_or_default();
    let date = until.split('T').next().unwrap_or(until);
    if d["expired"].as_bool() == Some(true) {
        return (
            check_status::CRITICAL,
            format!("CRITICAL: Certificate for {at} expired on {date}"),
        );
    }
    if days < 0 || own.contains("not valid before") {
        return (
            check_status::CRITICAL,
            format!("CRITICAL: Certificate for {at} is not yet valid"),
        );
    }
    if d["chain_valid"].as_bool() != Some(true) {
        let why = d["chain_error"].as_str().unwrap_or("untrusted");
        return (
            check_status::CRITICAL,
            format!("CRITICAL: Certificate for {at} is not trusted: {why}"),
        );
    }
    if d["hostname_match"].as_bool() != Some(true) {
        return (
            check_status::CRITICAL,
            format!("CRITICAL: Certificate for {at} does not match the host name"),
        );
    }
    (
        check_status::OK,
        format!("OK: Certificate for {at} valid for {days} days ({date})"),
    )
}

/// The warning-days rule, applied after [`tls`]: ≤ `warning_days` left is WARNING.
fn tls_with_days(d: &Value, own: String, warning_days: i64) -> (u32, String) {
    let (status, text) = tls(d, own);
    let days = d["days_left"].as_i64().unwrap_or(0);
    if status == check_status::OK && days <= warning_days {
        let sni = d["sni"].as_str().unwrap_or_default();
        let port = d["address"]
            .as_str()
            .and_then(|a| a.rsplit_once(':'))
            .map(|(_, p)| p)
            .unwrap_or("443");
        let until = d["not_after"].as_str().unwrap_or_default();
        let date = until.split('T').next().unwrap_or(until);
        return (
            check_status::WARNING,
            format!("WARNING: Certificate for {sni}:{port} expires in {days} days ({date})"),
        );
    }
    (status, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(days: i64, expired: bool, chain: bool, name: bool) -> Value {
        json!({"address": "127.0.0.1:8443", "sni": "h.test", "days_left": days,
            "not_after": "2027-01-02T03:04:05Z", "expired": expired, "chain_valid": chain,
            "chain_error": if chain { Value::Null } else { "UnknownIssuer".into() },
            "hostname_match": name})
    }

    #[test]
    fn issue17_towerops_ssl_statuses_by_towerops_rules() {
        let own = || "TLS ...".to_owned();
        assert_eq!(
            tls_with_days(&cert(100, false, true, true), own(), 30),
            (
                0,
                "OK: Certificate for h.test:8443 valid for 100 days (2027-01-02)".into()
            )
        );
        // At the warning days is WARNING (≤, the original's rule).
        assert_eq!(tls_with_days(&cert(30, false, true, true), own(), 30).0, 1);
        assert_eq!(tls_with_days(&cert(31, false, true, true), own(), 30).0, 0);
        let (s, t) = tls_with_days(&cert(-3, true, true, true), own(), 30);
        assert_eq!(
            (s, t.as_str()),
            (
                2,
                "CRITICAL: Certificate for h.test:8443 expired on 2027-01-02"
            )
        );
        assert_eq!(
            tls_with_days(&cert(100, false, false, true), own(), 30).0,
            2
        );
        assert_eq!(
            tls_with_days(&cert(100, false, true, false), own(), 30).0,
            2
        );
        // No certificate seen (no handshake): UNKNOWN with the check's own words.
        let no = json!({"address": "127.0.0.1:1", "connect_error": "refused"});
        assert_eq!(tls_with_days(&no, own(), 30), (3, own()));
    }

    #[test]
    fn issue17_towerops_http_and_dns_judged_by_towerops_rules() {
        let h = |code: u64, matched: Value, truncated: bool| json!({"http_status": code, "regex_matched": matched, "truncated": truncated});
        assert_eq!(http(&h(200, Value::Null, false), "200", String::new()).0, 0);
        assert_eq!(
            http(&h(201, Value::Null, false), "200", String::new()),
            (2, "HTTP 201, expected 200".into())
        );
        assert_eq!(http(&h(201, Value::Null, false), "201", String::new()).0, 0);
        assert_eq!(
            http(&h(200, false.into(), false), "200", String::new()).0,
            2
        );
        assert_eq!(http(&h(200, true.into(), true), "200", String::new()).0, 3);
        assert_eq!(
            http(&json!({"stage": "connect"}), "200", "x".into()),
            (2, "x".into())
        );
        let d = json!({"rcode": "No Error", "answers": ["10 mail.test."]});
        assert_eq!(dns(&d, "mail.test", String::new()).0, 0);
        assert_eq!(dns(&d, "MAIL.test.", String::new()).0, 0);
        assert_eq!(dns(&d, "10 mail.test", String::new()).0, 0);
        assert_eq!(dns(&d, "other.test", String::new()).0, 2);
        let cname = json!({"rcode": "No Error", "answers": ["h.test."]});
        assert_eq!(
            dns(&cname, "h.test", String::new()),
            (0, "Resolved to: h.test.".into())
        );
        let nx = json!({"rcode": "Non-Existent Domain", "answers": []});
        assert_eq!(dns(&nx, "", String::new()).0, 2);
        assert_eq!(printable(&"é".repeat(200)).len(), 256);
    }
}
