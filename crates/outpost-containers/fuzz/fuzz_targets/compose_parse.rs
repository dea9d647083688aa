//! A Compose file is whatever an operator (or an `app.apply` job over an uplink) sent: any
//! bytes. Parsing never panics; an accepted app writes back as YAML that parses to the same
//! app, converts to containers and plans.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use outpost_containers::apps;

#[inline(never)]
fn stage_accepted(app: &apps::AppSpec) {
    std::hint::black_box(app);
}

#[inline(never)]
fn stage_round_trip(app: &apps::AppSpec) {
    let yaml = apps::to_yaml(app);
    let back = apps::parse(yaml.as_bytes(), "fuzz", Path::new("/base"));
    assert_eq!(back.as_ref(), Ok(app), "YAML was:\n{yaml}");
}

/// `plan` is generic and inlined here: its own symbol does not show in the coverage.
#[inline(never)]
fn stage_planned(app: &apps::AppSpec) {
    let acts = apps::plan([app], &[]).expect("a parsed app plans");
    assert_eq!(acts.len(), app.services.len());
}

fuzz_target!(|data: &[u8]| {
    let Ok(app) = apps::parse(data, "fuzz", Path::new("/base")) else {
        return;
    };
    stage_accepted(&app);
    stage_round_trip(&app);
    for (name, s) in &app.services {
        let run = apps::to_run_spec(&app.name, name, s).expect("a parsed app converts");
        assert_eq!(run.labels[apps::SPEC_HASH_LABEL], apps::spec_hash(&run));
    }
    stage_planned(&app);
});
