//! An `AppSpec` written back as a Compose file: what `outpost containers apps` shows, and
//! the other half of the parser's round-trip test. Every string is double-quoted with YAML
//! escapes (and `$` as Compose's `$$`), every structured value in its long form, so the text
//! parses back to the same spec whatever it holds.

use std::fmt::Write;

use crate::run_spec::{Healthcheck, Mount, MountKind, PortMap, Protocol, RestartPolicy};

use super::compose::{AppSpec, DependsOn, ServiceSpec};

/// A YAML double-quoted scalar holding `s` (with `$` doubled for Compose).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("$$"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// A mapping key: quoted, but `$` kept as it is (keys are not interpolated).
fn quote_key(s: &str) -> String {
    quote(s).replace("$$", "$")
}

fn list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", q.join(", "))
}

fn port(p: &PortMap) -> String {
    let mut s = format!("{{target: {}", p.container_port);
    if let Some(h) = p.host_port {
        let _ = write!(s, ", published: {h}");
    }
    if let Some(ip) = &p.host_ip {
        let _ = write!(s, ", host_ip: {}", quote(ip));
    }
    let proto = match p.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    };
    let _ = write!(s, ", protocol: {proto}}}");
    s
}

fn mount(m: &Mount) -> String {
    let kind = match m.kind {
        MountKind::Bind => "bind",
        MountKind::Volume => "volume",
        MountKind::Tmpfs => "tmpfs",
    };
    let mut s = format!("{{type: {kind}");
    if let Some(src) = &m.source {
        let _ = write!(s, ", source: {}", quote(src));
    }
    let _ = write!(
        s,
        ", target: {}, read_only: {}}}",
        quote(&m.target),
        m.read_only
    );
    s
}

fn restart(r: &RestartPolicy) -> String {
    match r {
        RestartPolicy::No => "no".into(),
        RestartPolicy::Always => "always".into(),
        RestartPolicy::UnlessStopped => "unless-stopped".into(),
        RestartPolicy::OnFailure { max_retries: None } => "on-failure".into(),
        RestartPolicy::OnFailure {
            max_retries: Some(n),
        } => format!("on-failure:{n}"),
    }
}

fn healthcheck(out: &mut String, h: &Healthcheck) {
    let _ = writeln!(out, "    healthcheck:\n      test: {}", list(&h.test));
    for (k, v) in [
        ("interval", h.interval_ms),
        ("timeout", h.timeout_ms),
        ("start_period", h.start_period_ms),
    ] {
        if let Some(ms) = v {
            let _ = writeln!(out, "      {k}: \"{ms}ms\"");
        }
    }
    if let Some(r) = h.retries {
        let _ = writeln!(out, "      retries: {r}");
    }
}

fn map(out: &mut String, key: &str, m: &std::collections::BTreeMap<String, String>) {
    if m.is_empty() {
        return;
    }
    let _ = writeln!(out, "    {key}:");
    for (k, v) in m {
        let _ = writeln!(out, "      {}: {}", quote_key(k), quote(v));
    }
}

fn service(out: &mut String, name: &str, s: &ServiceSpec) {
    let _ = writeln!(out, "  {}:", quote_key(name));
    let _ = writeln!(out, "    image: {}", quote(&s.image));
    if let Some(c) = &s.command {
        let _ = writeln!(out, "    command: {}", list(c));
    }
    if let Some(e) = &s.entrypoint {
        let _ = writeln!(out, "    entrypoint: {}", list(e));
    }
    map(out, "environment", &s.environment);
    if !s.ports.is_empty() {
        let _ = writeln!(out, "    ports:");
        for p in &s.ports {
            let _ = writeln!(out, "      - {}", port(p));
        }
    }
    if !s.volumes.is_empty() {
        let _ = writeln!(out, "    volumes:");
        for m in &s.volumes {
            let _ = writeln!(out, "      - {}", mount(m));
        }
    }
    if !s.depends_on.is_empty() {
        let _ = writeln!(out, "    depends_on:");
        for (d, c) in &s.depends_on {
            let c = match c {
                DependsOn::Started => "service_started",
                DependsOn::Healthy => "service_healthy",
            };
            let _ = writeln!(out, "      {}: {{condition: {c}}}", quote_key(d));
        }
    }
    let _ = writeln!(out, "    restart: {}", quote(&restart(&s.restart)));
    if let Some(h) = &s.healthcheck {
        healthcheck(out, h);
    }
    map(out, "labels", &s.labels);
    if let Some(n) = &s.network_mode {
        let _ = writeln!(out, "    network_mode: {}", quote(n));
    }
    if let Some(m) = s.mem_limit {
        let _ = writeln!(out, "    mem_limit: {m}");
    }
    if let Some(c) = s.cpus {
        let _ = writeln!(out, "    cpus: {c}");
    }
    if let Some(u) = &s.user {
        let _ = writeln!(out, "    user: {}", quote(u));
    }
    if let Some(w) = &s.working_dir {
        let _ = writeln!(out, "    working_dir: {}", quote(w));
    }
    if s.privileged {
        let _ = writeln!(out, "    privileged: true");
    }
    if let Some(n) = &s.container_name {
        let _ = writeln!(out, "    container_name: {}", quote(n));
    }
    if let Some(b) = &s.restart_backoff {
        let growth = match b.growth {
            super::backoff::Growth::Double => "double",
            super::backoff::Growth::Square => "square",
        };
        let _ = writeln!(
            out,
            "    x-outpost-restart-backoff: {{initial: \"{}ms\", max: \"{}ms\", growth: {growth}}}",
            b.initial_ms, b.max_ms
        );
    }
}

/// The app as a Compose file.
pub fn to_yaml(app: &AppSpec) -> String {
    let mut out = format!("name: {}\nservices:\n", quote(&app.name));
    if app.services.is_empty() {
        out = format!("name: {}\nservices: {{}}\n", quote(&app.name));
    }
    for (name, s) in &app.services {
        service(&mut out, name, s);
    }
    out
}
