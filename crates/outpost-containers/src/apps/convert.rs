//! A declared service to the container that runs it.
//!
//! Naming: the container of service S in app A is `outpost-A.S`. App names have no dot, so
//! the name reads back one way only; the name is for people (`docker ps`), ownership is in
//! the labels: `outpost.app=A`, `outpost.service=S` and `outpost.spec-hash=H`, added to the
//! user's labels (which may not use the `outpost.` prefix). The engine's restart policy is
//! `no`: the reconciler restarts, with backoff, by the declared policy it keeps.

use crate::run_spec::{RestartPolicy, RunSpec};

use super::compose::ServiceSpec;
use super::hash::{spec_hash, SPEC_HASH_LABEL};
use super::validate::{is_app_name, is_service_name};

pub const APP_LABEL: &str = "outpost.app";
pub const SERVICE_LABEL: &str = "outpost.service";
/// Labels a user may not set.
pub const RESERVED_PREFIX: &str = "outpost.";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("app name `{0}` is not valid ([a-zA-Z0-9][a-zA-Z0-9_-]*, at most 63)")]
    AppName(String),
    #[error("service name `{0}` is not valid ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 63)")]
    ServiceName(String),
    #[error("service `{service}`: label `{key}` uses the reserved `outpost.` prefix")]
    ReservedLabel { service: String, key: String },
}

/// The container name of `service` in `app`.
pub fn container_name(app: &str, service: &str) -> String {
    format!("outpost-{app}.{service}")
}

/// The container for `service` of `app`, labelled and hashed.
pub fn to_run_spec(app: &str, service: &str, s: &ServiceSpec) -> Result<RunSpec, ConvertError> {
    if !is_app_name(app) {
        return Err(ConvertError::AppName(app.to_owned()));
    }
    if !is_service_name(service) {
        return Err(ConvertError::ServiceName(service.to_owned()));
    }
    if let Some(key) = s.labels.keys().find(|k| k.starts_with(RESERVED_PREFIX)) {
        return Err(ConvertError::ReservedLabel {
            service: service.to_owned(),
            key: key.clone(),
        });
    }
    let mut labels = s.labels.clone();
    labels.insert(APP_LABEL.to_owned(), app.to_owned());
    labels.insert(SERVICE_LABEL.to_owned(), service.to_owned());
    let mut run = RunSpec {
        image: s.image.clone(),
        name: Some(
            s.container_name
                .clone()
                .unwrap_or_else(|| container_name(app, service)),
        ),
        command: s.command.clone(),
        entrypoint: s.entrypoint.clone(),
        env: s.environment.clone(),
        ports: s.ports.clone(),
        mounts: s.volumes.clone(),
        restart: RestartPolicy::No,
        network_mode: s.network_mode.clone(),
        memory_bytes: s.mem_limit,
        cpus: s.cpus,
        labels,
        privileged: s.privileged,
        working_dir: s.working_dir.clone(),
        user: s.user.clone(),
        healthcheck: s.healthcheck.clone(),
    };
    let h = spec_hash(&run);
    run.labels.insert(SPEC_HASH_LABEL.to_owned(), h);
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_and_policy() {
        let mut s = ServiceSpec::new("busybox:local");
        s.restart = RestartPolicy::Always;
        s.labels.insert("team".into(), "edge".into());
        let r = to_run_spec("shop", "web", &s).unwrap();
        assert_eq!(r.name.as_deref(), Some("outpost-shop.web"));
        assert_eq!(r.restart, RestartPolicy::No);
        assert_eq!(r.labels["outpost.app"], "shop");
        assert_eq!(r.labels["outpost.service"], "web");
        assert_eq!(r.labels["team"], "edge");
        assert_eq!(r.labels[SPEC_HASH_LABEL], spec_hash(&r));
    }

    #[test]
    fn reserved_labels_are_refused() {
        let mut s = ServiceSpec::new("x");
        s.labels.insert("outpost.app".into(), "other".into());
        assert!(matches!(
            to_run_spec("a", "b", &s),
            Err(ConvertError::ReservedLabel { .. })
        ));
    }

    #[test]
    fn changing_the_spec_changes_the_hash_the_declared_restart_does_not() {
        let s = ServiceSpec::new("x");
        let h = |s: &ServiceSpec| to_run_spec("a", "b", s).unwrap().labels[SPEC_HASH_LABEL].clone();
        let base = h(&s);
        let mut t = s.clone();
        t.environment.insert("K".into(), "v".into());
        assert_ne!(h(&t), base);
        let mut t = s.clone();
        t.restart = RestartPolicy::Always;
        assert_eq!(h(&t), base, "the engine never sees the declared policy");
        assert_ne!(
            to_run_spec("a2", "b", &s).unwrap().labels[SPEC_HASH_LABEL],
            base
        );
    }
}
