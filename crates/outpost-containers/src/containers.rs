//! Container lifecycle calls: list, inspect, create (from a [`RunSpec`]), start, stop,
//! restart, remove. Each is one engine call within its deadline.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, RemoveContainerOptions,
    RestartContainerOptions, StartContainerOptions, StopContainerOptions,
};
use serde::{Deserialize, Serialize};

use crate::create::{create_body, port_key};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::run_spec::{Protocol, RunSpec};

/// `container.inspect`'s answer, as the engine wrote it.
pub type Inspected = ContainerInspectResponse;

/// `container.list`'s filters, as the engine takes them (each list is OR within a key,
/// AND across keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListFilter {
    /// Also stopped containers (the engine lists only running ones by default).
    #[serde(default)]
    pub all: bool,
    /// `KEY` or `KEY=VALUE`.
    #[serde(default)]
    pub label: Vec<String>,
    /// A substring of the name, as the engine matches it.
    #[serde(default)]
    pub name: Vec<String>,
    /// `created`, `restarting`, `running`, `removing`, `paused`, `exited` or `dead`.
    #[serde(default)]
    pub status: Vec<String>,
}

pub const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// One container as `container.list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerRow {
    pub id: String,
    /// Without the engine's leading `/`.
    pub name: String,
    pub image: String,
    /// The image's id (`sha256:...`), which a tag moved elsewhere does not change.
    pub image_id: String,
    /// The command line the container runs, as the engine shows it.
    pub command: String,
    /// `running`, `exited`, ...
    pub state: String,
    /// The engine's words: `Up 3 minutes`, `Exited (0) 2 seconds ago`.
    pub status: String,
    /// Unix seconds.
    pub created: i64,
    pub labels: BTreeMap<String, String>,
}

impl Engine {
    pub async fn list(
        &self,
        filter: &ListFilter,
        deadline: Instant,
    ) -> Result<Vec<ContainerRow>, EngineError> {
        let mut filters: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in [
            ("label", &filter.label),
            ("name", &filter.name),
            ("status", &filter.status),
        ] {
            if !v.is_empty() {
                filters.insert(k.into(), v.clone());
            }
        }
        // Asking for a status other than running implies every container.
        let all = filter.all || !filter.status.is_empty();
        let rows = self.list_summaries(all, &filters, deadline).await?;
        Ok(rows
            .into_iter()
            .map(|c| ContainerRow {
                name: c.name(),
                id: c.id,
                image: c.image,
                image_id: c.image_id,
                command: c.command,
                state: c.state,
                status: c.status,
                created: c.created,
                labels: c.labels,
            })
            .collect())
    }

    /// The engine's whole description of one container.
    pub async fn inspect(
        &self,
        id: &str,
        deadline: Instant,
    ) -> Result<ContainerInspectResponse, EngineError> {
        self.call(deadline, |d| async move {
            d.inspect_container(id, None::<InspectContainerOptions>)
                .await
        })
        .await
    }

    /// Creates a container from `spec` and returns its id. `privileged` is refused unless
    /// allowed; with host networking, a port the spec declares that is already taken on
    /// this host is a conflict before anything is created (the engine would start the
    /// container and let its program fail to bind).
    pub async fn create(&self, spec: &RunSpec, deadline: Instant) -> Result<String, EngineError> {
        if spec.privileged && !self.settings().allow_privileged {
            return Err(EngineError::Refused(
                "privileged containers are refused (containers.allow_privileged is off)".into(),
            ));
        }
        if spec.network_mode.as_deref() == Some("host") {
            host_ports_free(spec)?;
        }
        let body = create_body(spec);
        let opts = CreateContainerOptions {
            name: spec.name.clone(),
            ..Default::default()
        };
        let made = self
            .call(deadline, |d| async move {
                d.create_container(Some(opts), body).await
            })
            .await
            .map_err(|e| match e {
                EngineError::NotFound(m) if m.contains("image") => EngineError::NotFound(format!(
                    "{m} (the engine does not have it: pull it with image.pull or load it with image.load)"
                )),
                e => e,
            })?;
        for w in made.warnings {
            tracing::info!(warning = %w, "containers: the engine warned on create");
        }
        Ok(made.id)
    }

    pub async fn start(&self, id: &str, deadline: Instant) -> Result<(), EngineError> {
        self.call(deadline, |d| async move {
            d.start_container(id, None::<StartContainerOptions>).await
        })
        .await
    }

    /// Stops with SIGTERM, then SIGKILL after `timeout_secs` (the engine's default when
    /// absent).
    pub async fn stop(
        &self,
        id: &str,
        timeout_secs: Option<u32>,
        deadline: Instant,
    ) -> Result<(), EngineError> {
        let opts = StopContainerOptions {
            t: timeout_secs.map(|t| i32::try_from(t).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        self.call(deadline, |d| async move {
            d.stop_container(id, Some(opts)).await
        })
        .await
    }

    pub async fn restart(
        &self,
        id: &str,
        timeout_secs: Option<u32>,
        deadline: Instant,
    ) -> Result<(), EngineError> {
        let opts = RestartContainerOptions {
            t: timeout_secs.map(|t| i32::try_from(t).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        self.call(deadline, |d| async move {
            d.restart_container(id, Some(opts)).await
        })
        .await
    }

    pub async fn remove(
        &self,
        id: &str,
        force: bool,
        volumes: bool,
        deadline: Instant,
    ) -> Result<(), EngineError> {
        let opts = RemoveContainerOptions {
            force,
            v: volumes,
            ..Default::default()
        };
        self.call(deadline, |d| async move {
            d.remove_container(id, Some(opts)).await
        })
        .await
    }
}

/// With host networking the container's ports are the host's: each one the spec declares
/// must be free now.
fn host_ports_free(spec: &RunSpec) -> Result<(), EngineError> {
    for p in &spec.ports {
        let port = p.host_port.unwrap_or(p.container_port);
        let ip = p.host_ip.as_deref().unwrap_or("0.0.0.0");
        let addr = match ip.parse::<std::net::IpAddr>() {
            Ok(ip) => std::net::SocketAddr::new(ip, port),
            Err(_) => continue,
        };
        let taken = match p.protocol {
            Protocol::Tcp => std::net::TcpListener::bind(addr).err(),
            Protocol::Udp => std::net::UdpSocket::bind(addr).err(),
            Protocol::Sctp => None,
        };
        if let Some(e) = taken.filter(|e| e.kind() == std::io::ErrorKind::AddrInUse) {
            return Err(EngineError::Conflict(format!(
                "port {} ({addr}) is already in use on this host, and network_mode host shares the host's ports: {e}",
                port_key(p)
            )));
        }
    }
    Ok(())
}
