//! A Compose file (the subset Outpost supports) to a typed `AppSpec`.
//!
//! Supported: top-level `name`, `services`, `volumes` (declarations only: named volumes are
//! used by their name as written), `version` (ignored) and `x-*` (ignored); per service
//! `image`, `command`, `entrypoint`, `environment`, `ports`, `volumes`, `depends_on`,
//! `restart`, `healthcheck`, `labels`, `network_mode`, `mem_limit`, `cpus`, `user`,
//! `working_dir`, `privileged` and `x-*`. Any other key is an error naming it and its line:
//! an operator's typo (`enviroment:`) must not be dropped in silence. Variables (`${X}`) are
//! not interpolated; a value that would be is refused.

use std::collections::BTreeMap;
use std::path::Path as FsPath;

use serde::{Deserialize, Serialize};

use crate::run_spec::{Healthcheck, Mount, PortMap, RestartPolicy};

use super::error::{ComposeError, ComposeErrorKind as K, Pos};
use super::read::{self, invalid, Path};
use super::validate;
use super::yaml::{self, Node, Value};
use super::{fields, scalars};

/// A declared app: a named set of services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppSpec {
    pub name: String,
    pub services: BTreeMap<String, ServiceSpec>,
}

/// One service as declared. The restart policy is the declared one: the reconciler acts on
/// it (with backoff); the engine is told `no`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMap>,
    /// Bind sources are absolute (relative ones resolved against the caller's base dir).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, DependsOn>,
    #[serde(default, skip_serializing_if = "RestartPolicy::is_no")]
    pub restart: RestartPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// `mem_limit` in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// Compose's `container_name`: the container's name instead of `outpost-APP.SERVICE`
    /// (a drop-in keeps the name the agent it replaces gave, e.g. Reagent's
    /// `prod_KEY_NAME`). Ownership stays in the labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// `x-outpost-restart-backoff: {initial, max, growth}`: this service's restart backoff
    /// instead of `containers.restart_backoff_ms`'s (a drop-in keeps the agent's it
    /// replaces, e.g. Reagent's 5 s × n² up to an hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_backoff: Option<RestartBackoff>,
}

/// A service's own restart backoff (see [`ServiceSpec::restart_backoff`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartBackoff {
    pub initial_ms: u64,
    pub max_ms: u64,
    pub growth: super::backoff::Growth,
}

impl ServiceSpec {
    /// A service running `image` with nothing else set.
    pub fn new(image: impl Into<String>) -> Self {
        ServiceSpec {
            image: image.into(),
            command: None,
            entrypoint: None,
            environment: BTreeMap::new(),
            ports: Vec::new(),
            volumes: Vec::new(),
            depends_on: BTreeMap::new(),
            restart: RestartPolicy::No,
            healthcheck: None,
            labels: BTreeMap::new(),
            network_mode: None,
            mem_limit: None,
            cpus: None,
            user: None,
            working_dir: None,
            privileged: false,
            container_name: None,
            restart_backoff: None,
        }
    }
}

/// When a dependency counts as up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DependsOn {
    /// `service_started`: its container is running.
    Started,
    /// `service_healthy`: its health check passes.
    Healthy,
}

/// Parses a Compose file. `default_name` names the app when the file does not (the file's
/// stem, or the `app.apply` job's name); relative bind sources resolve against `base_dir`.
pub fn parse(bytes: &[u8], default_name: &str, base_dir: &FsPath) -> Result<AppSpec, ComposeError> {
    let text = yaml::text(bytes)?;
    let Some(root) = yaml::parse(text)? else {
        return Err(ComposeError::new(
            Pos { line: 1, column: 1 },
            "",
            K::Missing {
                key: "services".into(),
            },
        ));
    };
    let app = from_node(&root, default_name, base_dir)?;
    validate::check(&app).map_err(|(path, kind)| {
        ComposeError::new(read::locate(&root, &path).pos, path.to_string(), kind)
    })?;
    Ok(app)
}

fn from_node(root: &Node, default_name: &str, base: &FsPath) -> Result<AppSpec, ComposeError> {
    let top = Path::default();
    let mut name = None;
    let mut services = None;
    for e in read::map(root, &top)? {
        let p = top.key(&e.key);
        match e.key.as_str() {
            "version" => {}
            "name" => name = Some(read::string(&e.value, &p)?),
            "services" => services = Some((&e.value, p)),
            "volumes" => volume_declarations(&e.value, &p)?,
            k if k.starts_with("x-") => {}
            k => return Err(fields::unknown(e.key_pos, &p, k)),
        }
    }
    let Some((node, p)) = services else {
        return Err(read::err(
            root,
            &top,
            K::Missing {
                key: "services".into(),
            },
        ));
    };
    let mut out = BTreeMap::new();
    for e in read::map(node, &p)? {
        let sp = p.key(&e.key);
        out.insert(e.key.clone(), service(&e.value, &sp, base)?);
    }
    Ok(AppSpec {
        name: name.unwrap_or_else(|| default_name.to_owned()),
        services: out,
    })
}

/// Top-level `volumes:` declares named volumes; Outpost uses a named volume by the name a
/// service gives it, so a declaration may say nothing more (`name: {}` or `name:`).
fn volume_declarations(n: &Node, path: &Path) -> Result<(), ComposeError> {
    if n.is_null() {
        return Ok(());
    }
    for e in read::map(n, path)? {
        let p = path.key(&e.key);
        let v = &e.value;
        let empty = v.is_null() || matches!(&v.value, Value::Map(es) if es.is_empty());
        if !empty {
            return Err(invalid(
                v,
                &p,
                "volume options are not supported: declare the volume with `{}` or nothing",
            ));
        }
    }
    Ok(())
}

fn opt_words(n: &Node, path: &Path) -> Result<Option<Vec<String>>, ComposeError> {
    if n.is_null() {
        return Ok(None);
    }
    read::words(n, path).map(Some)
}

fn service(n: &Node, path: &Path, base: &FsPath) -> Result<ServiceSpec, ComposeError> {
    let mut image = None;
    let mut s = ServiceSpec::new("");
    for e in read::map(n, path)? {
        let p = path.key(&e.key);
        let v = &e.value;
        match e.key.as_str() {
            "image" => image = Some(read::string(v, &p)?),
            "command" => s.command = opt_words(v, &p)?,
            "entrypoint" => s.entrypoint = opt_words(v, &p)?,
            "environment" => {
                s.environment = read::dict(v, &p, None)?
                    .into_iter()
                    .map(|(k, v, _)| (k, v))
                    .collect()
            }
            "labels" => {
                s.labels = read::dict(v, &p, Some(""))?
                    .into_iter()
                    .map(|(k, v, _)| (k, v))
                    .collect()
            }
            "ports" => {
                s.ports = read::seq(v, &p)?
                    .iter()
                    .enumerate()
                    .map(|(i, it)| fields::port(it, &p.index(i)))
                    .collect::<Result<_, _>>()?
            }
            "volumes" => {
                s.volumes = read::seq(v, &p)?
                    .iter()
                    .enumerate()
                    .map(|(i, it)| fields::volume(it, &p.index(i), base))
                    .collect::<Result<_, _>>()?
            }
            "depends_on" => s.depends_on = depends_on(v, &p)?,
            "restart" => {
                s.restart =
                    scalars::restart(&read::string(v, &p)?).map_err(|m| invalid(v, &p, m))?
            }
            "healthcheck" => s.healthcheck = Some(fields::healthcheck(v, &p)?),
            "network_mode" => s.network_mode = Some(network_mode(v, &p)?),
            "mem_limit" => {
                s.mem_limit =
                    Some(scalars::bytes(read::raw(v, &p)?).map_err(|m| invalid(v, &p, m))?)
            }
            "cpus" => s.cpus = Some(cpus(v, &p)?),
            "user" => s.user = Some(read::string(v, &p)?),
            "working_dir" => s.working_dir = Some(read::string(v, &p)?),
            "privileged" => s.privileged = read::boolean(v, &p)?,
            "container_name" => {
                let name = read::string(v, &p)?;
                if !super::validate::is_service_name(&name) {
                    return Err(invalid(
                        v,
                        &p,
                        "a container name: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 63 characters",
                    ));
                }
                s.container_name = Some(name);
            }
            "x-outpost-restart-backoff" => s.restart_backoff = Some(restart_backoff(v, &p)?),
            k if k.starts_with("x-") => {}
            k => return Err(fields::unknown(e.key_pos, &p, k)),
        }
    }
    s.image = image.ok_or_else(|| {
        read::err(
            n,
            path,
            K::Missing {
                key: "image".into(),
            },
        )
    })?;
    if s.image.is_empty() {
        return Err(invalid(n, &path.key("image"), "the image is empty"));
    }
    Ok(s)
}

/// `{initial: 5s, max: 1h, growth: square}` (`growth` `double` when absent).
fn restart_backoff(n: &Node, path: &Path) -> Result<RestartBackoff, ComposeError> {
    let (mut initial, mut max, mut growth) = (None, None, super::backoff::Growth::Double);
    for e in read::map(n, path)? {
        let p = path.key(&e.key);
        let v = &e.value;
        let dur = |v: &Node| -> Result<u64, ComposeError> {
            scalars::duration_ms(&read::string(v, &p)?).map_err(|m| invalid(v, &p, m))
        };
        match e.key.as_str() {
            "initial" => initial = Some(dur(v)?),
            "max" => max = Some(dur(v)?),
            "growth" => {
                growth = match read::string(v, &p)?.as_str() {
                    "double" => super::backoff::Growth::Double,
                    "square" => super::backoff::Growth::Square,
                    _ => return Err(invalid(v, &p, "`double` or `square`")),
                }
            }
            k => return Err(fields::unknown(e.key_pos, &p, k)),
        }
    }
    let initial = initial.filter(|ms| *ms > 0).ok_or_else(|| {
        invalid(
            n,
            &path.key("initial"),
            "an initial delay above zero is needed",
        )
    })?;
    let max = max.unwrap_or(initial).max(initial);
    Ok(RestartBackoff {
        initial_ms: initial,
        max_ms: max,
        growth,
    })
}

fn depends_on(n: &Node, path: &Path) -> Result<BTreeMap<String, DependsOn>, ComposeError> {
    let mut out = BTreeMap::new();
    match &n.value {
        Value::Seq(items) => {
            for (i, it) in items.iter().enumerate() {
                let name = read::string(it, &path.index(i))?;
                if out.insert(name.clone(), DependsOn::Started).is_some() {
                    return Err(invalid(
                        it,
                        &path.index(i),
                        format!("`{name}` is listed twice"),
                    ));
                }
            }
        }
        Value::Map(es) => {
            for e in es {
                let p = path.key(&e.key);
                let mut cond = DependsOn::Started;
                if !e.value.is_null() {
                    for c in read::map(&e.value, &p)? {
                        let cp = p.key(&c.key);
                        match c.key.as_str() {
                            "condition" => {
                                cond = match read::string(&c.value, &cp)?.as_str() {
                                    "service_started" => DependsOn::Started,
                                    "service_healthy" => DependsOn::Healthy,
                                    other => {
                                        return Err(invalid(
                                            &c.value,
                                            &cp,
                                            format!(
                                            "`{other}` is not service_started or service_healthy"
                                        ),
                                        ))
                                    }
                                }
                            }
                            k if k.starts_with("x-") => {}
                            k => return Err(fields::unknown(c.key_pos, &cp, k)),
                        }
                    }
                }
                out.insert(e.key.clone(), cond);
            }
        }
        _ => {
            return Err(read::err(
                n,
                path,
                K::WrongType {
                    expected: "a list of services or a mapping of service to condition",
                },
            ))
        }
    }
    Ok(out)
}

fn network_mode(n: &Node, path: &Path) -> Result<String, ComposeError> {
    let s = read::string(n, path)?;
    if let Some(c) = s.strip_prefix("container:") {
        if validate::is_docker_name(c) || c.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(s);
        }
    } else if s.starts_with("service:") {
        return Err(invalid(
            n,
            path,
            "`service:NAME` is not supported; use `container:outpost-APP.NAME`",
        ));
    } else if validate::is_docker_name(&s) {
        return Ok(s);
    }
    Err(invalid(
        n,
        path,
        format!("`{s}` is not none, host, bridge, container:NAME or a network's name"),
    ))
}

fn cpus(n: &Node, path: &Path) -> Result<f64, ComposeError> {
    match read::raw(n, path)?.parse::<f64>() {
        Ok(c) if c.is_finite() && c > 0.0 => Ok(c),
        _ => Err(invalid(
            n,
            path,
            "expected a number of CPUs above 0, like 0.5",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_spec::{MountKind, Protocol};

    const FULL: &str = r#"
version: "3.9"
name: shop
x-common: &common
  restart: on-failure:3
  labels: {team: edge}
volumes:
  data: {}
services:
  db:
    image: postgres:16
    <<: *common
    environment:
      POSTGRES_PASSWORD: secret
      PORT: 5432
    volumes:
      - data:/var/lib/postgresql/data
      - type: bind
        source: ./init
        target: /docker-entrypoint-initdb.d
        read_only: true
    healthcheck:
      test: ["CMD", "pg_isready"]
      interval: 1m30s
      timeout: 5s
      retries: 3
      start_period: 10s
  web:
    image: shop/web:1
    command: sh -c 'exec web --port "$$PORT"'
    entrypoint: ["/init"]
    environment: ["MODE=prod", "EMPTY="]
    ports: ["8080:80", "127.0.0.1:9090:90/udp", {target: 443, published: 8443}]
    depends_on:
      db: {condition: service_healthy}
    restart: unless-stopped
    labels: ["a=b", "flag"]
    network_mode: bridge
    mem_limit: 256m
    cpus: 0.5
    user: "1000:1000"
    working_dir: /app
    privileged: false
"#;

    #[test]
    fn the_whole_subset_parses() {
        let app = parse(FULL.as_bytes(), "ignored", FsPath::new("/srv/shop")).unwrap();
        assert_eq!(app.name, "shop");
        let db = &app.services["db"];
        assert_eq!(
            db.restart,
            RestartPolicy::OnFailure {
                max_retries: Some(3)
            }
        );
        assert_eq!(db.labels["team"], "edge");
        assert_eq!(db.environment["PORT"], "5432");
        assert_eq!(db.volumes[0].kind, MountKind::Volume);
        assert_eq!(db.volumes[1].source.as_deref(), Some("/srv/shop/init"));
        let hc = db.healthcheck.as_ref().unwrap();
        assert_eq!((hc.interval_ms, hc.retries), (Some(90_000), Some(3)));
        let web = &app.services["web"];
        assert_eq!(
            web.command.as_deref().unwrap(),
            ["sh", "-c", "exec web --port \"$PORT\""]
        );
        assert_eq!(web.environment["EMPTY"], "");
        assert_eq!(web.ports[1].protocol, Protocol::Udp);
        assert_eq!(web.ports[2].host_port, Some(8443));
        assert_eq!(web.depends_on["db"], DependsOn::Healthy);
        assert_eq!(web.labels["flag"], "");
        assert_eq!(web.mem_limit, Some(256 << 20));
        assert_eq!(web.cpus, Some(0.5));
    }

    #[test]
    fn the_file_stem_names_an_unnamed_app() {
        let app = parse(b"services: {a: {image: x}}", "stem", FsPath::new("/")).unwrap();
        assert_eq!(app.name, "stem");
    }

    #[test]
    fn a_typo_is_an_error_with_its_line() {
        let e = parse(
            b"services:\n  web:\n    image: x\n    enviroment: {A: b}\n",
            "a",
            FsPath::new("/"),
        )
        .unwrap_err();
        assert_eq!(
            e.kind,
            K::UnknownKey {
                key: "enviroment".into()
            }
        );
        assert_eq!((e.pos.line, e.pos.column), (4, 5));
        assert_eq!(e.path, "services.web.enviroment");
    }

    #[test]
    fn interpolation_is_refused() {
        let e = parse(
            b"services:\n  a:\n    image: app:${TAG}\n",
            "a",
            FsPath::new("/"),
        )
        .unwrap_err();
        assert_eq!(e.kind, K::Interpolation);
        assert_eq!(e.pos.line, 3);
    }

    #[test]
    fn issue19_container_name_and_own_restart_backoff() {
        let text = b"services:\n  app:\n    image: x\n    container_name: prod_1_app\n    x-outpost-restart-backoff: {initial: 5s, max: 1h, growth: square}\n";
        let a = parse(text, "a", FsPath::new("/")).unwrap();
        let s = &a.services["app"];
        assert_eq!(s.container_name.as_deref(), Some("prod_1_app"));
        assert_eq!(
            s.restart_backoff,
            Some(RestartBackoff {
                initial_ms: 5_000,
                max_ms: 3_600_000,
                growth: super::super::backoff::Growth::Square
            })
        );
        let back = parse(
            super::super::emit::to_yaml(&a).as_bytes(),
            "a",
            FsPath::new("/"),
        )
        .unwrap();
        assert_eq!(back, a);
        for bad in [
            "container_name: \"a b\"",
            "x-outpost-restart-backoff: {max: 1s}",
            "x-outpost-restart-backoff: {initial: 0s}",
            "x-outpost-restart-backoff: {initial: 1s, growth: cubic}",
            "x-outpost-restart-backoff: {initial: 1s, jitter: 1}",
        ] {
            let t = format!("services:\n  app:\n    image: x\n    {bad}\n");
            let e = parse(t.as_bytes(), "a", FsPath::new("/")).unwrap_err();
            assert_eq!(e.pos.line, 4, "{bad}: {e}");
        }
    }
}
