//! `connectivity.*`: the connectivity monitor and its recovery ladder (issue 14), off unless
//! `connectivity.enabled`. Read as written here; [`ConnectivitySection::check`] (called by
//! `Config::validate`) parses what types cannot say and cross-checks the recovery steps
//! against the exec allowlist, each error naming its key.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "connectivity")]
use outpost_checks::http::HttpSpec;
#[cfg(feature = "connectivity")]
use outpost_connectivity::{Hysteresis, RecoverySettings, Settings};
use serde::Deserialize;

use super::KeyError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectivitySection {
    pub enabled: bool,
    pub period_ms: u64,
    pub degraded_period_ms: u64,
    pub timeout_ms: u64,
    pub fall: u32,
    pub rise: u32,
    pub route: bool,
    /// Empty: no DNS probe.
    pub dns_name: String,
    pub dns_server: Option<String>,
    pub tcp_target: Option<String>,
    pub http_url: Option<String>,
    /// PEM CAs the HTTPS probe trusts instead of the system store (check.http's `ca_file`).
    pub ca_file: Option<PathBuf>,
    pub recovery: RecoverySection,
    /// A TCP target by host name, resolved at each round (a failed lookup is charged to
    /// the resolver). Not a key: only SocketMan's `health_url:health_port` sets it (the
    /// key `tcp_target` stays an address, so the operator's probes never depend on DNS).
    #[serde(skip)]
    pub tcp_host: Option<(String, u16)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverySection {
    /// Comma-separated command names, in ladder order.
    pub steps: String,
    pub reboot: String,
    pub initial_delay_ms: u64,
    pub max_delay_ms: u64,
    pub min_reboot_interval_secs: u64,
    pub boot_grace_secs: u64,
    pub reboot_after_offline_ms: u64,
    pub dry_run: bool,
}

/// Where the probes go, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    pub route: bool,
    /// The name to resolve; `None`: no DNS probe.
    pub dns_name: Option<String>,
    /// `None`: the first nameserver of /etc/resolv.conf, read at each round.
    pub dns_server: Option<SocketAddr>,
    /// `None`: port 53 of the resolver.
    pub tcp_target: Option<SocketAddr>,
    /// A host name and port for the TCP probe when `tcp_target` is unset (SocketMan's
    /// health target).
    pub tcp_host: Option<(String, u16)>,
    pub http_url: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

// Without the `connectivity` feature the section is still read and checked, short of what
// only the monitor's crates can say (the ladder's settings, the HTTPS probe's spec).
#[cfg(feature = "connectivity")]
impl Targets {
    /// The HTTP probe's request, as a `check.http` spec: a GET, redirects not followed,
    /// TLS verified (against `ca_file` when set). Any answer below 500 is up: check_http's
    /// rule makes 4xx WARNING and 5xx CRITICAL, and the probe counts WARNING as up.
    pub fn http_spec(&self) -> Option<HttpSpec> {
        let url = self.http_url.clone()?;
        Some(HttpSpec {
            url,
            method: None,
            headers: Default::default(),
            body: None,
            expect_status: None,
            regex: None,
            invert_regex: false,
            follow_redirects: false,
            max_redirects: None,
            verify_tls: true,
            ca_file: self.ca_file.clone(),
            // A probe needs only the answer's status line: the body is not read.
            max_body_bytes: Some(0),
            timeout_ms: Some(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX)),
            warn_ms: None,
            crit_ms: None,
            resolved: Vec::new(),
        })
    }
}

impl ConnectivitySection {
    pub fn steps(&self) -> Vec<String> {
        self.recovery
            .steps
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[cfg(feature = "connectivity")]
    pub fn settings(&self) -> Settings {
        let r = &self.recovery;
        let reboot = r.reboot.trim();
        Settings {
            period: Duration::from_millis(self.period_ms),
            degraded_period: Duration::from_millis(self.degraded_period_ms),
            hysteresis: Hysteresis {
                fall: self.fall,
                rise: self.rise,
            },
            recovery: RecoverySettings {
                steps: self.steps(),
                reboot: (!reboot.is_empty()).then(|| reboot.to_owned()),
                initial_delay: Duration::from_millis(r.initial_delay_ms),
                max_delay: Duration::from_millis(r.max_delay_ms),
                min_reboot_interval: Duration::from_secs(r.min_reboot_interval_secs),
                boot_grace: Duration::from_secs(r.boot_grace_secs),
                reboot_after_offline: (r.reboot_after_offline_ms > 0)
                    .then(|| Duration::from_millis(r.reboot_after_offline_ms)),
                dry_run: r.dry_run,
            },
        }
    }

    pub fn targets(&self) -> Result<Targets, KeyError> {
        let dns_server = self
            .dns_server
            .as_deref()
            .map(|s| {
                parse_addr(s, 53).ok_or_else(|| {
                    KeyError::new(
                        "connectivity.dns_server",
                        "an IP address, optionally with a port (192.0.2.53, [2001:db8::53]:5353)",
                    )
                })
            })
            .transpose()?;
        let tcp_target = self
            .tcp_target
            .as_deref()
            .map(|s| {
                s.trim().parse::<SocketAddr>().map_err(|_| {
                    KeyError::new(
                        "connectivity.tcp_target",
                        "an IP address and port (192.0.2.1:443, [2001:db8::1]:443): a host name would depend on DNS, which has its own probe",
                    )
                })
            })
            .transpose()?;
        let name = self.dns_name.trim();
        if name.len() > 253 || name.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(KeyError::new(
                "connectivity.dns_name",
                "a host name of at most 253 characters (empty: no DNS probe)",
            ));
        }
        if !(1..=300_000).contains(&self.timeout_ms) {
            return Err(KeyError::new(
                "connectivity.timeout_ms",
                "must be between 1 and 300000",
            ));
        }
        let targets = Targets {
            route: self.route,
            dns_name: (!name.is_empty()).then(|| name.trim_end_matches('.').to_owned()),
            dns_server,
            tcp_target,
            tcp_host: self.tcp_host.clone(),
            http_url: self.http_url.clone(),
            ca_file: self.ca_file.clone(),
            timeout: Duration::from_millis(self.timeout_ms),
        };
        #[cfg(feature = "connectivity")]
        if let Some(spec) = targets.http_spec() {
            // The check's own validation, so the probe never meets a spec it refuses.
            spec.validate().map_err(|e| match e.field.as_str() {
                "ca_file" => KeyError::new("connectivity.ca_file", e.message),
                _ => KeyError::new(
                    "connectivity.http_url",
                    "an http:// or https:// URL with a host",
                ),
            })?;
        }
        if self.http_url.is_none() && self.ca_file.is_some() {
            return Err(KeyError::new(
                "connectivity.ca_file",
                "only the HTTPS probe uses it: set connectivity.http_url",
            ));
        }
        Ok(targets)
    }

    /// Everything `config check` can say about the section: ranges, targets, and each
    /// recovery step against the allowlist (`commands`) and `exec.enabled`.
    pub fn check(
        &self,
        commands: Option<&toml::Value>,
        exec_enabled: bool,
    ) -> Result<(), KeyError> {
        #[cfg(feature = "connectivity")]
        self.settings()
            .validate()
            .map_err(|e| KeyError::new(connectivity_key(e.key), e.message))?;
        self.targets()?;
        let steps = self.steps();
        if !self.enabled || steps.is_empty() {
            return Ok(());
        }
        const STEPS: &str = "connectivity.recovery.steps";
        if !exec_enabled {
            return Err(KeyError::new(
                STEPS,
                "recovery steps run allowlisted commands: set exec.enabled = true",
            ));
        }
        let reboot = self.recovery.reboot.trim();
        for step in &steps {
            let Some(spec) = commands.and_then(|c| c.get(step)) else {
                return Err(KeyError::new(
                    STEPS,
                    format_args!(
                        "step `{step}` is not a command of the allowlist ([commands.{step}])"
                    ),
                ));
            };
            if spec
                .get("params")
                .and_then(toml::Value::as_table)
                .is_some_and(|p| !p.is_empty())
            {
                return Err(KeyError::new(
                    STEPS,
                    format_args!("step `{step}` takes parameters; a recovery step runs with none"),
                ));
            }
            if step != reboot && looks_like_reboot(spec) {
                return Err(KeyError::new(
                    "connectivity.recovery.reboot",
                    format_args!("step `{step}` looks like a reboot: name it here so min_reboot_interval holds it"),
                ));
            }
        }
        Ok(())
    }
}

/// A command whose program is reboot, shutdown, poweroff or halt, or that passes `reboot`
/// (`systemctl reboot`, `busybox reboot`).
fn looks_like_reboot(spec: &toml::Value) -> bool {
    let Some(argv) = spec.get("argv").and_then(toml::Value::as_array) else {
        return false;
    };
    argv.iter().enumerate().any(|(i, a)| {
        let Some(s) = a.as_str() else { return false };
        let base = s.rsplit('/').next().unwrap_or(s);
        matches!(base, "reboot" | "poweroff" | "halt" | "kexec")
            || (i == 0 && base == "shutdown")
            || (i > 0 && s == "reboot")
    })
}

#[cfg(feature = "connectivity")]
/// The settings' key names are relative to `connectivity.`; `KeyError` wants a static full one.
fn connectivity_key(k: &str) -> &'static str {
    match k {
        "period_ms" => "connectivity.period_ms",
        "degraded_period_ms" => "connectivity.degraded_period_ms",
        "fall" => "connectivity.fall",
        "rise" => "connectivity.rise",
        "recovery.initial_delay_ms" => "connectivity.recovery.initial_delay_ms",
        "recovery.max_delay_ms" => "connectivity.recovery.max_delay_ms",
        "recovery.steps" => "connectivity.recovery.steps",
        _ => "connectivity",
    }
}

fn parse_addr(s: &str, default_port: u16) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    s.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, default_port))
}
