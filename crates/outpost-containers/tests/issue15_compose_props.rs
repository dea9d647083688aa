//! Issue 15: declared apps as properties. What we write as Compose we read back the same;
//! the spec hash ignores the order of maps; the plan never touches a container without both
//! ownership labels, and planning again after the plan's effect finds nothing to do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use outpost_containers::apps::{
    self, plan, to_run_spec, to_yaml, Action, ActualContainer, AppSpec, ContainerState, DependsOn,
    ServiceSpec, APP_LABEL, SERVICE_LABEL, SPEC_HASH_LABEL,
};
use outpost_containers::run_spec::{
    Healthcheck, Mount, MountKind, PortMap, Protocol, RestartPolicy,
};
use proptest::prelude::*;

/// Text that exercises quoting: ASCII, blanks, quotes, `$`, backslashes, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    "[ -~\t\né€😀$\"'\\\\]{0,16}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

fn words() -> impl Strategy<Value = Option<Vec<String>>> {
    prop::option::of(prop::collection::vec(text(), 0..4))
}

fn restart() -> impl Strategy<Value = RestartPolicy> {
    prop_oneof![
        Just(RestartPolicy::No),
        Just(RestartPolicy::Always),
        Just(RestartPolicy::UnlessStopped),
        prop::option::of(any::<u32>())
            .prop_map(|max_retries| RestartPolicy::OnFailure { max_retries }),
    ]
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Sctp)
    ]
}

fn port() -> impl Strategy<Value = PortMap> {
    (
        1u16..,
        any::<bool>(),
        prop::option::of(prop_oneof![
            Just("127.0.0.1".to_owned()),
            Just("::1".to_owned()),
            Just("10.1.2.3".to_owned())
        ]),
        protocol(),
    )
        .prop_map(|(container_port, publish, host_ip, protocol)| PortMap {
            container_port,
            // Made unique per app afterwards.
            host_port: publish.then_some(1),
            host_ip,
            protocol,
        })
}

fn mount() -> impl Strategy<Value = Mount> {
    let abs = "(/[a-z0-9_]{1,5}){1,3}";
    prop_oneof![
        (abs, abs, any::<bool>()).prop_map(|(s, t, read_only)| Mount {
            kind: MountKind::Bind,
            source: Some(s),
            target: t,
            read_only,
        }),
        (
            prop::option::of("[a-z0-9][a-z0-9_.-]{0,8}"),
            abs,
            any::<bool>()
        )
            .prop_map(|(s, t, read_only)| Mount {
                kind: MountKind::Volume,
                source: s,
                target: t,
                read_only,
            }),
        (abs, any::<bool>()).prop_map(|(t, read_only)| Mount {
            kind: MountKind::Tmpfs,
            source: None,
            target: t,
            read_only,
        }),
    ]
}

fn healthcheck() -> impl Strategy<Value = Healthcheck> {
    let ms = || prop::option::of(0u64..10_000_000_000);
    (
        prop_oneof![
            prop::collection::vec(text(), 0..3).prop_map(|mut v| {
                v.insert(0, "CMD".into());
                v
            }),
            text().prop_map(|s| vec!["CMD-SHELL".into(), s]),
            Just(vec!["NONE".to_owned()]),
        ],
        ms(),
        ms(),
        prop::option::of(any::<u32>()),
        ms(),
    )
        .prop_map(
            |(test, interval_ms, timeout_ms, retries, start_period_ms)| Healthcheck {
                test,
                interval_ms,
                timeout_ms,
                retries,
                start_period_ms,
            },
        )
}

fn service() -> impl Strategy<Value = ServiceSpec> {
    let env = prop::collection::btree_map("[A-Za-z_][A-Za-z0-9_]{0,6}", text(), 0..4);
    let labels = prop::collection::btree_map("[a-z][a-z0-9.-]{0,8}", text(), 0..3)
        .prop_filter("outpost. is reserved", |m| {
            !m.keys().any(|k| k.starts_with("outpost."))
        });
    (
        (
            "[a-z0-9][a-z0-9./:_-]{0,15}",
            words(),
            words(),
            env,
            labels,
            restart(),
        ),
        (
            prop::collection::vec(port(), 0..3),
            prop::collection::vec(mount(), 0..3),
            prop::option::of(healthcheck()),
        ),
        (
            prop::option::of(prop_oneof![
                Just("none".to_owned()),
                Just("host".to_owned()),
                Just("bridge".to_owned()),
                Just("container:db1".to_owned()),
                Just("my-net".to_owned())
            ]),
            prop::option::of(1u64..),
            prop::option::of((1u32..64_000).prop_map(|n| f64::from(n) / 1000.0)),
            opt_text(),
            opt_text(),
            any::<bool>(),
            prop::option::of("[a-zA-Z0-9][a-zA-Z0-9_.-]{0,8}"),
        ),
    )
        .prop_map(
            |(
                (image, command, entrypoint, environment, labels, restart),
                (ports, volumes, healthcheck),
                (network_mode, mem_limit, cpus, user, working_dir, privileged, container_name),
            )| ServiceSpec {
                image,
                command,
                entrypoint,
                environment,
                ports,
                volumes,
                depends_on: BTreeMap::new(),
                restart,
                healthcheck,
                labels,
                network_mode,
                mem_limit,
                cpus,
                user,
                working_dir,
                privileged,
                container_name,
                restart_backoff: None,
            },
        )
}

/// A valid app: dependencies only on services earlier by name (no cycle), host ports
/// unique within the app.
fn app() -> impl Strategy<Value = AppSpec> {
    (
        "[a-z0-9][a-z0-9_-]{0,8}",
        prop::collection::btree_map("[a-zA-Z0-9][a-zA-Z0-9_.-]{0,8}", service(), 0..5),
        prop::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 0..6),
    )
        .prop_map(|(name, mut services, deps)| {
            let names: Vec<String> = services.keys().cloned().collect();
            for (i, (dep, healthy)) in deps.into_iter().enumerate() {
                if names.len() < 2 {
                    break;
                }
                let from = &names[1 + i % (names.len() - 1)];
                let to = &names[dep.index(names.iter().position(|n| n == from).unwrap_or(1))];
                let cond = if healthy {
                    DependsOn::Healthy
                } else {
                    DependsOn::Started
                };
                if let Some(s) = services.get_mut(from) {
                    s.depends_on.insert(to.clone(), cond);
                }
            }
            let mut next = 20_000u16;
            for s in services.values_mut() {
                for p in &mut s.ports {
                    if p.host_port.is_some() {
                        p.host_port = Some(next);
                        next += 1;
                    }
                }
            }
            AppSpec { name, services }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn issue15_app_spec_round_trips_through_compose_yaml(app in app()) {
        apps::validate(&app).map_err(|e| TestCaseError::fail(format!("generator made an invalid app: {e}")))?;
        let yaml = to_yaml(&app);
        let back = apps::parse(yaml.as_bytes(), "unused", Path::new("/base"));
        prop_assert_eq!(back.as_ref(), Ok(&app), "YAML was:\n{}", yaml);
    }

    #[test]
    fn issue15_spec_hash_ignores_the_order_of_maps_and_env_form(
        entries in prop::collection::btree_map("[A-Z][A-Z0-9_]{0,5}", "[a-z0-9 =:/.-]{0,10}", 1..8),
        perm_seed in any::<prop::sample::Index>(),
        labels_first in any::<bool>(),
    ) {
        let mut ordered: Vec<(String, String)> = entries.into_iter().collect();
        let as_map = |v: &[(String, String)]| {
            v.iter().map(|(k, x)| format!("      {k}: \"{x}\"\n")).collect::<String>()
        };
        let as_list = |v: &[(String, String)]| {
            v.iter().map(|(k, x)| format!("      - \"{k}={x}\"\n")).collect::<String>()
        };
        let one = format!(
            "services:\n  s:\n    image: x\n    labels: {{b: \"2\", a: \"1\"}}\n    environment:\n{}",
            as_map(&ordered)
        );
        let n = ordered.len();
        ordered.rotate_left(perm_seed.index(n));
        ordered.reverse();
        let env = format!("    environment:\n{}", as_list(&ordered));
        let labels = "    labels: [\"a=1\", \"b=2\"]\n";
        let two = if labels_first {
            format!("services:\n  s:\n{labels}{env}    image: x\n")
        } else {
            format!("services:\n  s:\n    image: x\n{env}{labels}")
        };
        let h = |y: &str| {
            let app = apps::parse(y.as_bytes(), "a", Path::new("/")).expect("parses");
            to_run_spec("a", "s", &app.services["s"]).expect("converts").labels[SPEC_HASH_LABEL].clone()
        };
        prop_assert_eq!(h(&one), h(&two));
    }

    #[test]
    fn issue15_plan_never_touches_a_container_without_both_labels(
        (desired, actual) in world(),
    ) {
        let acts = plan(desired.iter(), &actual).expect("valid apps plan");
        let unowned: BTreeSet<&str> = actual
            .iter()
            .filter(|c| !(c.labels.contains_key(APP_LABEL) && c.labels.contains_key(SERVICE_LABEL)))
            .map(|c| c.id.as_str())
            .collect();
        for a in &acts {
            let id = match a {
                Action::Recreate { id, .. } | Action::Start { id, .. } | Action::Remove { id, .. } => id,
                Action::Create { .. } => continue,
            };
            prop_assert!(!unowned.contains(id.as_str()), "{a:?} touches an unlabelled container");
        }
    }

    #[test]
    fn issue15_plan_is_idempotent(
        (desired, actual) in world(),
    ) {
        let acts = plan(desired.iter(), &actual).expect("valid apps plan");
        let after = apply(actual, &acts);
        let again = plan(desired.iter(), &after).expect("plans again");
        prop_assert!(again.is_empty(), "second plan: {again:?}");
        // And every declared service has exactly one container, made from its current
        // spec and up (running, or paused or restarting as someone left it).
        for app in &desired {
            for (svc, spec) in &app.services {
                let live: Vec<&ActualContainer> = after.iter().filter(|c| c.owner() == Some((app.name.as_str(), svc.as_str()))
                    && c.state != ContainerState::Removing).collect();
                prop_assert_eq!(live.len(), 1, "{}/{}", app.name, svc);
                let want = to_run_spec(&app.name, svc, spec).expect("converts");
                prop_assert_eq!(live[0].labels.get(SPEC_HASH_LABEL), want.labels.get(SPEC_HASH_LABEL));
                prop_assert!(
                    matches!(live[0].state, ContainerState::Running | ContainerState::Paused | ContainerState::Restarting),
                    "{}/{} left {:?}", app.name, svc, live[0].state
                );
            }
        }
    }
}

/// Apps with distinct names (the plan refuses one declared twice).
fn dedup(apps: Vec<AppSpec>) -> Vec<AppSpec> {
    let mut seen = BTreeSet::new();
    apps.into_iter()
        .filter(|a| seen.insert(a.name.clone()))
        .collect()
}

fn state() -> impl Strategy<Value = ContainerState> {
    prop_oneof![
        Just(ContainerState::Created),
        Just(ContainerState::Running),
        Just(ContainerState::Paused),
        Just(ContainerState::Restarting),
        Just(ContainerState::Removing),
        Just(ContainerState::Exited),
        Just(ContainerState::Dead),
    ]
}

/// Declared apps and the containers an engine might list beside them: for the declared
/// services (often several for one, with the current hash or another), for services and
/// apps that are not declared, and look-alikes with one label or none, named as a managed
/// container would be.
fn world() -> impl Strategy<Value = (Vec<AppSpec>, Vec<ActualContainer>)> {
    prop::collection::vec(app(), 0..3)
        .prop_map(dedup)
        .prop_flat_map(|desired| {
            let mut names: Vec<(String, String, String)> = Vec::new();
            for a in &desired {
                for (svc, spec) in &a.services {
                    let h = to_run_spec(&a.name, svc, spec).expect("converts").labels
                        [SPEC_HASH_LABEL]
                        .clone();
                    names.push((a.name.clone(), svc.clone(), h));
                }
            }
            let actual = actual_containers(names);
            (Just(desired), actual)
        })
}

fn actual_containers(
    declared: Vec<(String, String, String)>,
) -> impl Strategy<Value = Vec<ActualContainer>> {
    let random = (
        prop_oneof!["[a-z0-9][a-z0-9_-]{0,8}", Just("shop".to_owned())],
        "[a-zA-Z0-9][a-zA-Z0-9_.-]{0,8}",
        prop::option::of("[0-9a-f]{16}"),
    );
    let ours = if declared.is_empty() {
        random.clone().boxed()
    } else {
        (
            prop::sample::select(declared),
            any::<bool>(),
            prop::option::of("[0-9a-f]{16}"),
        )
            .prop_map(|((app, svc, h), current, other)| {
                (app, svc, if current { Some(h) } else { other })
            })
            .boxed()
    };
    let one = (
        prop_oneof![ours, random],
        prop_oneof![3 => Just(1u8), 1 => 0u8..4],
        state(),
    )
        .prop_map(|((app, svc, hash), labelled, state)| {
            let mut labels = BTreeMap::new();
            // 0: no label, 1: both, 2: the app's only, 3: the service's only.
            if labelled == 1 || labelled == 2 {
                labels.insert(APP_LABEL.to_owned(), app.clone());
            }
            if labelled == 1 || labelled == 3 {
                labels.insert(SERVICE_LABEL.to_owned(), svc.clone());
            }
            if let Some(h) = hash {
                labels.insert(SPEC_HASH_LABEL.to_owned(), h);
            }
            ActualContainer {
                id: String::new(),
                name: apps::container_name(&app, &svc),
                labels,
                state,
                exit_code: None,
                health: None,
            }
        });
    prop::collection::vec(one, 0..12).prop_map(|mut v| {
        for (i, c) in v.iter_mut().enumerate() {
            c.id = format!("c{i:03}");
        }
        v
    })
}

/// The effect of the actions on the engine's list.
fn apply(mut list: Vec<ActualContainer>, acts: &[Action]) -> Vec<ActualContainer> {
    let mut next = 0;
    let mut create = |list: &mut Vec<ActualContainer>, spec: &outpost_containers::RunSpec| {
        next += 1;
        list.push(ActualContainer {
            id: format!("new{next:03}"),
            name: spec.name.clone().unwrap_or_default(),
            labels: spec.labels.clone(),
            state: ContainerState::Running,
            exit_code: None,
            health: None,
        });
    };
    for a in acts {
        match a {
            Action::Create { spec, .. } => create(&mut list, spec),
            Action::Recreate { id, spec, .. } => {
                list.retain(|c| &c.id != id);
                create(&mut list, spec);
            }
            Action::Start { id, .. } => {
                for c in list.iter_mut().filter(|c| &c.id == id) {
                    c.state = ContainerState::Running;
                }
            }
            Action::Remove { id, .. } => list.retain(|c| &c.id != id),
        }
    }
    list
}
