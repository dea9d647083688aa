//! What types cannot say about an app: its names, its dependencies and its host ports.
//! Errors carry the document path; the parser turns it into a line and column.

use super::compose::AppSpec;
use super::error::{ComposeError, ComposeErrorKind as K, Pos};
use super::order;
use super::read::Path;
use crate::run_spec::Protocol;

/// Longest app or service name: the container is named after both.
pub const MAX_NAME: usize = 63;

/// Docker's rule for container and volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn is_docker_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A service name: Docker's rule, at most 63 characters.
pub fn is_service_name(s: &str) -> bool {
    s.len() <= MAX_NAME && is_docker_name(s)
}

/// An app name: Docker's rule without the dot, at most 63 characters. The container name
/// `outpost-APP.SERVICE` is then read back one way only (`a.b` + `c` and `a` + `b.c` cannot
/// both exist).
pub fn is_app_name(s: &str) -> bool {
    s.len() <= MAX_NAME && is_docker_name(s) && !s.contains('.')
}

/// Checks an app built by hand (no positions: errors name the path only).
pub fn validate(app: &AppSpec) -> Result<(), ComposeError> {
    check(app).map_err(|(p, k)| ComposeError::new(Pos::default(), p.to_string(), k))
}

pub(crate) fn check(app: &AppSpec) -> Result<(), (Path, K)> {
    let top = Path::default();
    if !is_app_name(&app.name) {
        return Err((
            top.key("name"),
            K::Invalid {
                message: format!(
                    "app name `{}` must match [a-zA-Z0-9][a-zA-Z0-9_-]* (no dot), at most {MAX_NAME} characters; set `name:`",
                    app.name
                ),
            },
        ));
    }
    let services = top.key("services");
    for (name, s) in &app.services {
        let sp = services.key(name);
        if !is_service_name(name) {
            return Err((sp, K::BadName { name: name.clone() }));
        }
        for dep in s.depends_on.keys() {
            if !app.services.contains_key(dep) {
                return Err((
                    sp.key("depends_on").key(dep),
                    K::UnknownDependency {
                        service: dep.clone(),
                    },
                ));
            }
        }
        for k in s.labels.keys() {
            if k.starts_with("outpost.") {
                return Err((sp.key("labels").key(k), K::ReservedLabel { key: k.clone() }));
            }
        }
    }
    if let Err(cycle) = order::start_order(app) {
        let first = cycle.first().cloned().unwrap_or_default();
        let second = cycle.get(1).cloned().unwrap_or_default();
        return Err((
            services.key(&first).key("depends_on").key(&second),
            K::Cycle { cycle },
        ));
    }
    host_ports(app)
}

/// Two services (or one, twice) publishing the same host port and protocol on addresses
/// that overlap (the same address, or either on all addresses) cannot both start.
fn host_ports(app: &AppSpec) -> Result<(), (Path, K)> {
    let mut seen: Vec<(u16, Protocol, Option<&str>, String)> = Vec::new();
    for (name, s) in &app.services {
        for (i, p) in s.ports.iter().enumerate() {
            let Some(port) = p.host_port else { continue };
            let ip = p
                .host_ip
                .as_deref()
                .filter(|ip| !matches!(*ip, "0.0.0.0" | "::"));
            let here = format!("services.{name}.ports[{i}]");
            if let Some((_, _, _, other)) = seen.iter().find(|(sp, sproto, sip, _)| {
                *sp == port
                    && *sproto == p.protocol
                    && (ip.is_none() || sip.is_none() || *sip == ip)
            }) {
                return Err((
                    Path::default()
                        .key("services")
                        .key(name)
                        .key("ports")
                        .index(i),
                    K::DuplicateHostPort {
                        port,
                        protocol: match p.protocol {
                            Protocol::Tcp => "tcp",
                            Protocol::Udp => "udp",
                            Protocol::Sctp => "sctp",
                        },
                        other: other.clone(),
                    },
                ));
            }
            seen.push((port, p.protocol, ip, here));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_docker_name("web-1.a_b"));
        assert!(!is_docker_name("-web"));
        assert!(!is_docker_name(""));
        assert!(!is_docker_name("wé"));
        assert!(is_app_name("shop_2"));
        assert!(!is_app_name("shop.v2"));
        assert!(!is_service_name(&"a".repeat(64)));
    }
}
