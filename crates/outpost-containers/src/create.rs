//! [`RunSpec`] to the Docker API's create body: the one place this translation lives, so
//! `container.run` and a declared app's service cannot drift apart.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, Mount as ApiMount, MountType, PortBinding,
    RestartPolicy as ApiRestart, RestartPolicyNameEnum,
};

use crate::run_spec::{Mount, MountKind, PortMap, Protocol, RestartPolicy, RunSpec};

/// A field of a [`RunSpec`] that cannot be sent: its path (as a job's params name it) and
/// why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    pub field: String,
    pub message: String,
}

impl SpecProblem {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecProblem {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks what the types cannot say, before anything reaches the engine.
pub fn check(spec: &RunSpec) -> Result<(), SpecProblem> {
    if spec.image.trim().is_empty() {
        return Err(SpecProblem::new("image", "must not be empty"));
    }
    if let Some(n) = &spec.name {
        // Docker's own rule for names: [a-zA-Z0-9][a-zA-Z0-9_.-]+
        let ok = (2..=128).contains(&n.len())
            && n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            return Err(SpecProblem::new(
                "name",
                "2 to 128 of [a-zA-Z0-9_.-], starting with a letter or digit",
            ));
        }
    }
    if spec.command.as_ref().is_some_and(|c| c.is_empty()) {
        return Err(SpecProblem::new("command", "must not be empty when given"));
    }
    for (k, _) in spec.env.iter() {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return Err(SpecProblem::new(
                format!("env.{k}"),
                "a variable name must be non-empty, without '=' or NUL",
            ));
        }
    }
    for (i, p) in spec.ports.iter().enumerate() {
        if p.container_port == 0 {
            return Err(SpecProblem::new(
                format!("ports[{i}].container_port"),
                "must be 1 to 65535",
            ));
        }
    }
    for (i, m) in spec.mounts.iter().enumerate() {
        if !m.target.starts_with('/') {
            return Err(SpecProblem::new(
                format!("mounts[{i}].target"),
                "must be an absolute path",
            ));
        }
        match (m.kind, &m.source) {
            (MountKind::Bind, Some(s)) if !s.starts_with('/') => {
                return Err(SpecProblem::new(
                    format!("mounts[{i}].source"),
                    "a bind mount's source must be an absolute host path",
                ))
            }
            (MountKind::Bind, None) => {
                return Err(SpecProblem::new(
                    format!("mounts[{i}].source"),
                    "a bind mount needs a source",
                ))
            }
            _ => {}
        }
    }
    if let Some(c) = spec.cpus {
        if !(c.is_finite() && c > 0.0 && c <= 1024.0) {
            return Err(SpecProblem::new("cpus", "must be above 0 and at most 1024"));
        }
    }
    if spec
        .memory_bytes
        .is_some_and(|m| m < 6 * 1024 * 1024 || m > i64::MAX as u64)
    {
        return Err(SpecProblem::new(
            "memory_bytes",
            "must be at least 6 MiB (the engine's minimum)",
        ));
    }
    Ok(())
}

/// `"8080/tcp"`, the API's key for a container port.
pub fn port_key(p: &PortMap) -> String {
    let proto = match p.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    };
    format!("{}/{proto}", p.container_port)
}

fn mount(m: &Mount) -> ApiMount {
    ApiMount {
        target: Some(m.target.clone()),
        source: m.source.clone(),
        typ: Some(match m.kind {
            MountKind::Bind => MountType::BIND,
            MountKind::Volume => MountType::VOLUME,
            MountKind::Tmpfs => MountType::TMPFS,
        }),
        read_only: m.read_only.then_some(true),
        ..Default::default()
    }
}

fn restart(r: &RestartPolicy) -> ApiRestart {
    let (name, max) = match r {
        RestartPolicy::No => (RestartPolicyNameEnum::NO, None),
        RestartPolicy::Always => (RestartPolicyNameEnum::ALWAYS, None),
        RestartPolicy::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
        RestartPolicy::OnFailure { max_retries } => (
            RestartPolicyNameEnum::ON_FAILURE,
            max_retries.map(i64::from),
        ),
    };
    ApiRestart {
        name: Some(name),
        maximum_retry_count: max,
    }
}

fn ms_to_ns(ms: Option<u64>) -> Option<i64> {
    ms.map(|ms| i64::try_from(ms.saturating_mul(1_000_000)).unwrap_or(i64::MAX))
}

/// The create body for `spec`. The name goes in the query, not the body: see
/// [`crate::Engine::create`].
pub fn create_body(spec: &RunSpec) -> ContainerCreateBody {
    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &spec.ports {
        let key = port_key(p);
        exposed.push(key.clone());
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: p.host_ip.clone(),
                host_port: p.host_port.map(|h| h.to_string()),
            });
    }
    let host_config = HostConfig {
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        mounts: (!spec.mounts.is_empty()).then(|| spec.mounts.iter().map(mount).collect()),
        restart_policy: Some(restart(&spec.restart)),
        network_mode: spec.network_mode.clone(),
        memory: spec
            .memory_bytes
            .map(|m| i64::try_from(m).unwrap_or(i64::MAX)),
        nano_cpus: spec.cpus.map(|c| (c * 1e9).round() as i64),
        privileged: spec.privileged.then_some(true),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.command.clone(),
        entrypoint: spec.entrypoint.clone(),
        env: (!spec.env.is_empty())
            .then(|| spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        labels: (!spec.labels.is_empty()).then(|| {
            spec.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        healthcheck: spec.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: ms_to_ns(h.interval_ms),
            timeout: ms_to_ns(h.timeout_ms),
            retries: h.retries.map(i64::from),
            start_period: ms_to_ns(h.start_period_ms),
            ..Default::default()
        }),
        host_config: Some(host_config),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue15_run_spec_becomes_the_create_body() {
        let spec: RunSpec = serde_json::from_value(serde_json::json!({
            "image": "busybox:local",
            "name": "web",
            "command": ["sleep", "100"],
            "env": {"A": "1"},
            "ports": [{"container_port": 8080, "host_port": 18080}],
            "mounts": [{"kind": "tmpfs", "target": "/tmp"}],
            "restart": {"policy": "on-failure", "max_retries": 3},
            "network_mode": "host",
            "memory_bytes": 67108864u64,
            "cpus": 0.5,
            "labels": {"outpost.app": "a"}
        }))
        .unwrap_or_default();
        assert!(check(&spec).is_ok());
        let body = create_body(&spec);
        assert_eq!(body.env, Some(vec!["A=1".to_string()]));
        assert_eq!(body.exposed_ports, Some(vec!["8080/tcp".to_string()]));
        let hc = body.host_config.unwrap_or_default();
        assert_eq!(hc.nano_cpus, Some(500_000_000));
        assert_eq!(hc.memory, Some(67_108_864));
        assert_eq!(hc.network_mode.as_deref(), Some("host"));
        let rp = hc.restart_policy.unwrap_or_default();
        assert_eq!(rp.name, Some(RestartPolicyNameEnum::ON_FAILURE));
        assert_eq!(rp.maximum_retry_count, Some(3));
        let b = hc.port_bindings.unwrap_or_default();
        assert_eq!(
            b.get("8080/tcp").cloned().flatten().unwrap_or_default()[0]
                .host_port
                .as_deref(),
            Some("18080")
        );
    }

    #[test]
    fn issue15_bad_specs_name_their_field() {
        let mut s = RunSpec {
            image: String::new(),
            ..Default::default()
        };
        assert_eq!(check(&s).map_err(|p| p.field), Err("image".into()));
        s.image = "x".into();
        s.name = Some("-bad".into());
        assert_eq!(check(&s).map_err(|p| p.field), Err("name".into()));
        s.name = None;
        s.mounts.push(Mount {
            kind: MountKind::Bind,
            source: Some("rel".into()),
            target: "/data".into(),
            read_only: false,
        });
        assert_eq!(
            check(&s).map_err(|p| p.field),
            Err("mounts[0].source".into())
        );
    }
}
