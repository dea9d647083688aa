//! `check.tls`: the certificate a TLS server presents: expiry, issuer, subject, chain
//! validity and host-name match, each reported on its own in `details`.
//!
//! The handshake accepts any certificate ([`TlsConfigs::inspect`]: signatures are still
//! checked) so an expired or untrusted chain is seen and described rather than only
//! refused. The presented chain is then verified with webpki: once now, and, when that
//! fails only on time, once at a moment inside the certificate's validity, so "expired"
//! and "untrusted" are told apart; the host name is matched separately.
//!
//! States: expired or not yet valid, an untrusted chain, a name mismatch, or fewer than
//! `crit_days` days left are CRITICAL; fewer than `warn_days` (default 30) WARNING.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, UnixTime};
use serde::Deserialize;
use serde_json::json;

use crate::perfdata::Perfdata;
use crate::result::{CheckResult, Status};
use crate::spec::{ms, validate_host, SpecError, Timing};
use crate::tcp::{connect_any, resolve};
use crate::tls_config::{provider, server_name, TlsConfigs};

pub const DEFAULT_WARN_DAYS: u32 = 30;
pub const DEFAULT_CRIT_DAYS: u32 = 7;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    pub host: String,
    /// Default 443.
    #[serde(default)]
    pub port: Option<u16>,
    /// Name sent as SNI and matched against the certificate (default `host`).
    #[serde(default)]
    pub sni: Option<String>,
    #[serde(default)]
    pub warn_days: Option<u32>,
    /// 0: CRITICAL only once expired.
    #[serde(default)]
    pub crit_days: Option<u32>,
    /// PEM file of the CAs to trust instead of the system store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub warn_ms: Option<f64>,
    #[serde(default)]
    pub crit_ms: Option<f64>,
}

impl TlsSpec {
    pub fn timing(&self) -> Timing {
        Timing {
            timeout_ms: self.timeout_ms,
            warn_ms: self.warn_ms,
            crit_ms: self.crit_ms,
        }
    }

    fn name(&self) -> &str {
        self.sni.as_deref().unwrap_or(&self.host)
    }

    pub fn validate(&self) -> Result<(), SpecError> {
        validate_host("host", &self.host)?;
        if self.port == Some(0) {
            return Err(SpecError::new("port", "1 to 65535"));
        }
        let field = if self.sni.is_some() { "sni" } else { "host" };
        server_name(self.name()).map_err(|e| SpecError::new(field, e))?;
        let (w, c) = self.days();
        if c > w {
            return Err(SpecError::new("crit_days", "must not exceed warn_days"));
        }
        if w > 3650 {
            return Err(SpecError::new("warn_days", "0 to 3650"));
        }
        if let Some(p) = &self.ca_file {
            if !p.is_absolute() {
                return Err(SpecError::new("ca_file", "an absolute path"));
            }
        }
        self.timing().validate()
    }

    fn days(&self) -> (u32, u32) {
        (
            self.warn_days.unwrap_or(DEFAULT_WARN_DAYS),
            self.crit_days.unwrap_or(DEFAULT_CRIT_DAYS),
        )
    }
}

pub async fn check(spec: &TlsSpec, tls: &TlsConfigs) -> CheckResult {
    let timing = spec.timing();
    let start = Instant::now();
    timing
        .bounded(start, run(spec, tls, start), |secs| {
            (
                format!("TLS CRITICAL - Socket timeout after {secs} seconds"),
                json!({"host": spec.host, "timeout": true}),
            )
        })
        .await
}

async fn run(spec: &TlsSpec, tls: &TlsConfigs, start: Instant) -> CheckResult {
    let port = spec.port.unwrap_or(443);
    let critical = |msg: String, details: serde_json::Value| {
        let mut r = CheckResult::new(Status::Critical, msg, start.elapsed());
        r.details = details;
        r
    };
    let unknown = |msg: String| CheckResult::new(Status::Unknown, msg, start.elapsed());
    let (name, config, roots) = match (
        server_name(spec.name()),
        tls.inspect(),
        tls.roots(spec.ca_file.as_deref()),
    ) {
        (Ok(n), Ok(c), Ok(r)) => (n, c, r),
        (Err(e), _, _) => return unknown(format!("TLS UNKNOWN - {e}")),
        (_, Err(e), _) | (_, _, Err(e)) => return unknown(format!("TLS UNKNOWN - {e}")),
    };
    let addrs = match resolve(&spec.host, port).await {
        Ok(a) => a,
        Err(e) => {
            return critical(
                format!("TLS CRITICAL - cannot resolve {}: {e}", spec.host),
                json!({"host": spec.host, "resolve_error": e}),
            )
        }
    };
    let (tcp, addr) = match connect_any(&addrs).await {
        Ok(t) => t,
        Err((addr, e)) => {
            return critical(
                format!("TLS CRITICAL - connect to {addr}: {e}"),
                json!({"address": addr.to_string(), "connect_error": e.to_string()}),
            )
        }
    };
    let connect = start.elapsed();
    let stream = match tokio_rustls::TlsConnector::from(config)
        .connect(name.clone(), tcp)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            return critical(
                format!("TLS CRITICAL - handshake with {addr}: {e}"),
                json!({"address": addr.to_string(), "handshake_error": e.to_string()}),
            )
        }
    };
    let handshake = start.elapsed();
    let conn = stream.get_ref().1;
    let version = conn.protocol_version().map(|v| format!("{v:?}"));
    let chain: Vec<CertificateDer<'static>> = conn
        .peer_certificates()
        .map(<[_]>::to_vec)
        .unwrap_or_default();
    drop(stream);
    let Some(ee) = chain.first() else {
        return critical(
            format!("TLS CRITICAL - {addr} presented no certificate"),
            json!({"address": addr.to_string()}),
        );
    };
    let cert = match Cert::parse(ee) {
        Ok(c) => c,
        Err(e) => {
            return critical(
                format!("TLS CRITICAL - certificate from {addr} unreadable: {e}"),
                json!({"address": addr.to_string()}),
            )
        }
    };
    let verifier = match WebPkiServerVerifier::builder_with_provider(roots, provider()).build() {
        Ok(v) => v,
        Err(e) => return unknown(format!("TLS UNKNOWN - verifier: {e}")),
    };
    let now_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let at = |secs: i64| UnixTime::since_unix_epoch(Duration::from_secs(secs.max(0) as u64));
    let verify = |t: UnixTime| verifier.verify_server_cert(ee, &chain[1..], &name, &[], t);
    let expired = now_secs > cert.not_after;
    let not_yet = now_secs < cert.not_before;
    // Chain validity apart from time: verified inside the validity window when out of it.
    let chain_result = if expired || not_yet {
        verify(at(if expired {
            cert.not_after - 1
        } else {
            cert.not_before + 1
        }))
    } else {
        verify(at(now_secs))
    };
    let chain_error = match chain_result {
        Ok(_) => None,
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. },
        )) => None,
        Err(e) => Some(e.to_string()),
    };
    let hostname_match = webpki::EndEntityCert::try_from(ee)
        .map(|c| c.verify_is_valid_for_subject_name(&name).is_ok())
        .unwrap_or(false);
    let days_left = (cert.not_after - now_secs).div_euclid(86_400);
    let (warn_days, crit_days) = spec.days();

    let mut status = Status::Ok;
    let mut problems = Vec::new();
    let mut raise = |s: Status, what: String| {
        status = status.worst(s);
        problems.push(what);
    };
    if expired {
        raise(
            Status::Critical,
            format!("certificate expired on {}", rfc3339(cert.not_after)),
        );
    } else if not_yet {
        raise(
            Status::Critical,
            format!("certificate not valid before {}", rfc3339(cert.not_before)),
        );
    } else if days_left < i64::from(crit_days) {
        raise(
            Status::Critical,
            format!("certificate expires in {days_left} days (critical below {crit_days})"),
        );
    } else if days_left < i64::from(warn_days) {
        raise(
            Status::Warning,
            format!("certificate expires in {days_left} days (warning below {warn_days})"),
        );
    }
    if let Some(e) = &chain_error {
        raise(Status::Critical, format!("chain not trusted: {e}"));
    }
    if !hostname_match {
        raise(
            Status::Critical,
            format!("certificate not valid for {}", spec.name()),
        );
    }
    let elapsed = start.elapsed();
    let by_time = spec.timing().judge(elapsed);
    if by_time != Status::Ok {
        raise(by_time, "response time over threshold".into());
    }
    let summary = format!(
        "certificate '{}' valid until {} ({days_left} days)",
        cert.subject,
        rfc3339(cert.not_after)
    );
    let output = if problems.is_empty() {
        format!("TLS OK - {summary}")
    } else {
        format!("TLS {status} - {}; {summary}", problems.join("; "))
    };
    let mut r = CheckResult::new(status, output, elapsed);
    let mut days = Perfdata::new("days", days_left as f64, "");
    days.warn = Some(format!("{warn_days}:"));
    days.crit = Some(format!("{crit_days}:"));
    r.perfdata.push(days);
    r.details = json!({
        "address": addr.to_string(),
        "sni": spec.name(),
        "protocol": version,
        "subject": cert.subject,
        "issuer": cert.issuer,
        "serial": cert.serial,
        "sans": cert.sans,
        "not_before": rfc3339(cert.not_before),
        "not_after": rfc3339(cert.not_after),
        "days_left": days_left,
        "expired": expired,
        "chain_valid": chain_error.is_none(),
        "chain_error": chain_error,
        "chain_length": chain.len(),
        "hostname_match": hostname_match,
        "connect_ms": ms(connect),
        "handshake_ms": ms(handshake - connect),
    });
    r
}

/// What the check reports of the end-entity certificate.
struct Cert {
    subject: String,
    issuer: String,
    serial: String,
    sans: Vec<String>,
    not_before: i64,
    not_after: i64,
}

impl Cert {
    fn parse(der: &CertificateDer<'_>) -> Result<Cert, String> {
        use x509_parser::extensions::GeneralName;
        let (_, c) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
        let sans = match c.subject_alternative_name() {
            Ok(Some(ext)) => ext
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_string()),
                    GeneralName::IPAddress(b) => match b.len() {
                        4 => <[u8; 4]>::try_from(*b)
                            .ok()
                            .map(|a| std::net::IpAddr::from(a).to_string()),
                        16 => <[u8; 16]>::try_from(*b)
                            .ok()
                            .map(|a| std::net::IpAddr::from(a).to_string()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(Cert {
            subject: c.subject().to_string(),
            issuer: c.issuer().to_string(),
            serial: c.raw_serial_as_string(),
            sans,
            not_before: c.validity().not_before.timestamp(),
            not_after: c.validity().not_after.timestamp(),
        })
    }
}

/// `2026-11-26T10:00:00Z` from Unix seconds (civil-from-days, H. Hinnant's algorithm), so
/// no date crate is needed for one format.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn dates_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_694_400), "2026-11-26T12:00:00Z");
        assert_eq!(rfc3339(-86_400), "1969-12-31T00:00:00Z");
    }
}
