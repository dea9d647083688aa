//! The Compose structured syntaxes: ports, volumes and health checks, short and long
//! forms. Errors name the position and path of the bad value.

use std::path::{Component, Path as FsPath, PathBuf};

use crate::run_spec::{Healthcheck, Mount, MountKind, PortMap, Protocol};

use super::error::{ComposeError, ComposeErrorKind as K};
use super::read::{self, invalid, Path};
use super::scalars::duration_ms;
use super::yaml::{Node, Value};

fn protocol(s: &str) -> Result<Protocol, String> {
    match s {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "sctp" => Ok(Protocol::Sctp),
        _ => Err(format!("`{s}` is not one of tcp, udp, sctp")),
    }
}

fn port_number(s: &str, what: &str) -> Result<u16, String> {
    if s.contains('-') {
        return Err(format!(
            "port ranges (`{s}`) are not supported: list each port"
        ));
    }
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{what} `{s}` is not a port (1-65535)")),
    }
}

fn host_ip(s: &str) -> Result<String, String> {
    s.parse::<std::net::IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("`{s}` is not an IP address"))
}

/// `80`, `8080:80`, `127.0.0.1:8080:80`, `127.0.0.1::80`, `[::1]:8080:80`, each with an
/// optional `/udp`.
pub fn port_short(s: &str) -> Result<PortMap, String> {
    let (spec, proto) = match s.rsplit_once('/') {
        Some((a, p)) => (a, protocol(p)?),
        None => (s, Protocol::Tcp),
    };
    let (ip, rest) = if let Some(r) = spec.strip_prefix('[') {
        let (ip, r) = r
            .split_once(']')
            .ok_or_else(|| format!("`{s}`: unclosed `[`"))?;
        let r = r
            .strip_prefix(':')
            .ok_or_else(|| format!("`{s}`: expected `:` after `]`"))?;
        (Some(ip), r)
    } else {
        (None, spec)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match (ip, parts.as_slice()) {
        (None, [c]) => (None, None, *c),
        (None, [h, c]) => (None, Some(*h), *c),
        (None, [i, h, c]) => (Some(*i), Some(*h), *c),
        (Some(i), [h, c]) => (Some(i), Some(*h), *c),
        _ => {
            return Err(format!(
                "`{s}` is not a port like 80, 8080:80 or 127.0.0.1:8080:80/udp"
            ))
        }
    };
    Ok(PortMap {
        container_port: port_number(container, "container port")?,
        host_port: match host {
            None | Some("") => None,
            Some(h) => Some(port_number(h, "host port")?),
        },
        host_ip: ip.map(host_ip).transpose()?,
        protocol: proto,
    })
}

pub(crate) fn port(n: &Node, path: &Path) -> Result<PortMap, ComposeError> {
    if let Value::Map(es) = &n.value {
        let mut target = None;
        let mut pm = PortMap {
            container_port: 0,
            host_port: None,
            host_ip: None,
            protocol: Protocol::Tcp,
        };
        for e in es {
            let p = path.key(&e.key);
            let v = &e.value;
            let msg = |m: String| invalid(v, &p, m);
            match e.key.as_str() {
                "target" => target = Some(port_number(read::raw(v, &p)?, "target").map_err(msg)?),
                "published" => {
                    pm.host_port = Some(port_number(read::raw(v, &p)?, "published").map_err(msg)?)
                }
                "host_ip" => pm.host_ip = Some(host_ip(&read::string(v, &p)?).map_err(msg)?),
                "protocol" => pm.protocol = protocol(&read::string(v, &p)?).map_err(msg)?,
                k if k.starts_with("x-") => {}
                k => return Err(unknown(e.key_pos, &p, k)),
            }
        }
        pm.container_port = target.ok_or_else(|| {
            read::err(
                n,
                path,
                K::Missing {
                    key: "target".into(),
                },
            )
        })?;
        return Ok(pm);
    }
    let s = read::string(n, path)?;
    port_short(&s).map_err(|m| {
        let m = if m.contains(&format!("`{s}`")) {
            m
        } else {
            format!("`{s}`: {m}")
        };
        invalid(n, path, m)
    })
}

pub(crate) fn unknown(at: super::error::Pos, path: &Path, key: &str) -> ComposeError {
    ComposeError::new(at, path.to_string(), K::UnknownKey { key: key.into() })
}

/// Lexically normalised `base/rel` (no file system access: the path may not exist yet).
fn resolve(base: &FsPath, rel: &str) -> Result<String, String> {
    let mut out = PathBuf::new();
    for c in base.join(rel).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out.to_str()
        .map(str::to_owned)
        .ok_or_else(|| "the resolved path is not UTF-8".to_owned())
}

fn volume_name(s: &str) -> Result<(), String> {
    if super::validate::is_docker_name(s) {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is neither a path (/..., ./...) nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"
        ))
    }
}

fn source(s: &str, base: &FsPath) -> Result<(MountKind, String), String> {
    if s.starts_with('/') {
        Ok((MountKind::Bind, resolve(FsPath::new("/"), s)?))
    } else if s == "." || s == ".." || s.starts_with("./") || s.starts_with("../") {
        Ok((MountKind::Bind, resolve(base, s)?))
    } else if s.starts_with('~') {
        Err(format!(
            "`{s}`: `~` is not expanded (whose home?); write the path"
        ))
    } else {
        volume_name(s)?;
        Ok((MountKind::Volume, s.to_owned()))
    }
}

fn target(s: &str) -> Result<String, String> {
    if s.starts_with('/') {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "container path `{s}` must be absolute (start with /)"
        ))
    }
}

/// `/dst` (anonymous volume), `./src:/dst[:ro|:rw]`, `/abs:/dst`, `name:/dst`.
pub fn volume_short(s: &str, base: &FsPath) -> Result<Mount, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => (None, *d, None),
        [s, d] => (Some(*s), *d, None),
        [s, d, m] => (Some(*s), *d, Some(*m)),
        _ => {
            return Err(format!(
                "`{s}` is not a volume like ./src:/dst:ro or name:/dst"
            ))
        }
    };
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(m) => return Err(format!("volume mode `{m}` is not supported (ro or rw)")),
    };
    let (kind, source) = match src {
        None => (MountKind::Volume, None),
        Some(s) => {
            let (k, s) = source(s, base)?;
            (k, Some(s))
        }
    };
    Ok(Mount {
        kind,
        source,
        target: target(dst)?,
        read_only,
    })
}

pub(crate) fn volume(n: &Node, path: &Path, base: &FsPath) -> Result<Mount, ComposeError> {
    let Value::Map(es) = &n.value else {
        return volume_short(&read::string(n, path)?, base).map_err(|m| invalid(n, path, m));
    };
    let mut kind = None;
    let mut src = None;
    let mut dst = None;
    let mut read_only = false;
    for e in es {
        let p = path.key(&e.key);
        let v = &e.value;
        match e.key.as_str() {
            "type" => {
                kind = Some(match read::string(v, &p)?.as_str() {
                    "bind" => MountKind::Bind,
                    "volume" => MountKind::Volume,
                    "tmpfs" => MountKind::Tmpfs,
                    t => {
                        return Err(invalid(
                            v,
                            &p,
                            format!("`{t}` is not bind, volume or tmpfs"),
                        ))
                    }
                })
            }
            "source" => src = Some((read::string(v, &p)?, v, p)),
            "target" => dst = Some(target(&read::string(v, &p)?).map_err(|m| invalid(v, &p, m))?),
            "read_only" => read_only = read::boolean(v, &p)?,
            k if k.starts_with("x-") => {}
            k => return Err(unknown(e.key_pos, &p, k)),
        }
    }
    let kind = kind.ok_or_else(|| read::err(n, path, K::Missing { key: "type".into() }))?;
    let target = dst.ok_or_else(|| {
        read::err(
            n,
            path,
            K::Missing {
                key: "target".into(),
            },
        )
    })?;
    let source = match (kind, src) {
        (MountKind::Tmpfs, Some((_, v, p))) => {
            return Err(invalid(v, &p, "a tmpfs has no source"));
        }
        (MountKind::Tmpfs, None) | (MountKind::Volume, None) => None,
        (MountKind::Bind, None) => {
            return Err(read::err(
                n,
                path,
                K::Missing {
                    key: "source".into(),
                },
            ));
        }
        (k, Some((s, v, p))) => {
            let (found, s) = source(&s, base).map_err(|m| invalid(v, &p, m))?;
            if found != k {
                return Err(invalid(
                    v,
                    &p,
                    format!("`{s}` is a {found:?} source, but the type says {k:?}").to_lowercase(),
                ));
            }
            Some(s)
        }
    };
    Ok(Mount {
        kind,
        source,
        target,
        read_only,
    })
}

pub(crate) fn healthcheck(n: &Node, path: &Path) -> Result<Healthcheck, ComposeError> {
    let es = read::map(n, path)?;
    let mut hc = Healthcheck {
        test: Vec::new(),
        interval_ms: None,
        timeout_ms: None,
        retries: None,
        start_period_ms: None,
    };
    let mut disable = false;
    for e in es {
        let p = path.key(&e.key);
        let v = &e.value;
        let dur = |v: &Node| -> Result<u64, ComposeError> {
            duration_ms(&read::string(v, &p)?).map_err(|m| invalid(v, &p, m))
        };
        match e.key.as_str() {
            "test" => {
                hc.test = match &v.value {
                    Value::Seq(_) => {
                        let t = read::words(v, &p)?;
                        match t.first().map(String::as_str) {
                            Some("CMD" | "CMD-SHELL" | "NONE") => t,
                            _ => {
                                return Err(invalid(
                                    v,
                                    &p,
                                    "a test list starts with CMD, CMD-SHELL or NONE",
                                ))
                            }
                        }
                    }
                    _ => vec!["CMD-SHELL".to_owned(), read::string(v, &p)?],
                }
            }
            "interval" => hc.interval_ms = Some(dur(v)?),
            "timeout" => hc.timeout_ms = Some(dur(v)?),
            "start_period" => hc.start_period_ms = Some(dur(v)?),
            "retries" => hc.retries = Some(read::uint(v, &p)?),
            "disable" => disable = read::boolean(v, &p)?,
            k if k.starts_with("x-") => {}
            k => return Err(unknown(e.key_pos, &p, k)),
        }
    }
    if disable {
        hc.test = vec!["NONE".to_owned()];
    } else if hc.test.is_empty() {
        return Err(read::err(n, path, K::Missing { key: "test".into() }));
    }
    Ok(hc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        let p = port_short("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(
            (
                p.host_ip.as_deref(),
                p.host_port,
                p.container_port,
                p.protocol
            ),
            (Some("127.0.0.1"), Some(8080), 80, Protocol::Udp)
        );
        let p = port_short("[::1]:53:53").unwrap();
        assert_eq!(p.host_ip.as_deref(), Some("::1"));
        let p = port_short("127.0.0.1::80").unwrap();
        assert_eq!(p.host_port, None);
        assert!(port_short("3000-3005").is_err());
        assert!(port_short("80:http").is_err());
        assert!(port_short("1:2:3:4").is_err());
    }

    #[test]
    fn volumes_resolve_relative_binds() {
        let base = FsPath::new("/srv/apps/web");
        let m = volume_short("./src:/dst:ro", base).unwrap();
        assert_eq!(
            (m.kind, m.source.as_deref(), m.read_only),
            (MountKind::Bind, Some("/srv/apps/web/src"), true)
        );
        let m = volume_short("../data:/d", base).unwrap();
        assert_eq!(m.source.as_deref(), Some("/srv/apps/data"));
        let m = volume_short("cache:/c", base).unwrap();
        assert_eq!(
            (m.kind, m.source.as_deref()),
            (MountKind::Volume, Some("cache"))
        );
        assert!(volume_short("~/x:/x", base).is_err());
        assert!(volume_short("./x:rel", base).is_err());
        assert!(volume_short("./x:/x:z", base).is_err());
    }
}
