#!/usr/bin/env python3
"""Checks that issue 12's guards fail when what they guard is broken: each mutation below
edits the source, runs the test that guards it, expects it to FAIL, and restores the file.
Not part of `scripts/test` (it rebuilds the agent once per mutation, ~10 minutes).

Usage: python3 scripts/mutations.py [NAME...]   (from the repository root)
"""
import subprocess, sys
from pathlib import Path

# name: (file, old text, new text, cargo test arguments)
MUTATIONS = {
    "commit-keeps-cursors": (
        "crates/outpost-core/src/store/worker.rs",
        "            if let Some(cursors) = cursors_before {\n                state.cursors = cursors;\n            }\n",
        "            let _ = cursors_before;\n",
        ["-p", "outpost-core", "--lib", "issue12_failed_commit_restores_cursors_head_and_job_count"],
    ),
    "trim-counts-before-commit": (
        "crates/outpost-core/src/store/trim.rs",
        "    tx.commit()?;\n    if dropped > state.dropped {",
        "    state.dropped = dropped;\n    tx.commit()?;\n    if dropped > state.dropped {",
        ["-p", "outpost-core", "--test", "issue12_store_truth", "issue12_a_failed_trim_counts_no_drop"],
    ),
    "dispatcher-tells-before-storing": (
        "crates/outpost-core/src/dispatcher.rs",
        "        let inner = &self.inner;\n        let mut delay = Duration::from_millis(50);",
        "        let inner = &self.inner;\n        let _ = done.send(Some(Arc::new(record.clone())));\n        let mut delay = Duration::from_millis(50);",
        ["-p", "outpost-core", "--test", "issue12_store_truth", "issue12_dispatcher_reports_done_only_after_the_result_is_committed"],
    ),
    "core-depends-on-axum": (
        "crates/outpost-core/Cargo.toml",
        "[dependencies]\n",
        '[dependencies]\naxum = { version = "0.8", default-features = false }\n',
        ["-p", "outpost", "--test", "issue12_invariants", "issue12_core_and_engines_depend_on_no_wire_format_crate"],
    ),
    "a-busy-timer": (
        "crates/outpost/src/components/api.rs",
        "        let stop = cx.stop_token();\n",
        "        cx.spawn(async {\n            let mut t = tokio::time::interval(Duration::from_millis(100));\n            loop {\n                t.tick().await;\n            }\n        });\n        let stop = cx.stop_token();\n",
        ["-p", "outpost", "--test", "issue12_invariants", "issue12_idle_agent_with_every_component_on_uses_no_cpu"],
    ),
    "drops-not-counted": (
        "crates/outpost/src/api/metrics.rs",
        "core.outbox_dropped.inc_by(stats.outbox_dropped - seen);",
        "let _ = seen;",
        ["-p", "outpost", "--test", "issue12_invariants", "issue12_outbox_rows_dropped_by_a_limit_are_counted_in_metrics"],
    ),
    "handler-answers-500": (
        "crates/outpost/src/api/body.rs",
        "        decode(&bytes).map(JsonBody)",
        '        if bytes.len() % 7 == 3 {\n            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "boom", "mutation"));\n        }\n        decode(&bytes).map(JsonBody)',
        ["-p", "outpost", "--test", "issue12_handler_props"],
    ),
    "a-guard-that-does-not-exist": (
        "crates/outpost/src/daemon.rs",
        "//! `outpost run`:",
        "//! Guarded by `issue12_no_such_test_anywhere`.\n//! `outpost run`:",
        ["-p", "outpost", "--test", "issue12_named_tests_exist"],
    ),
    "phases-out-of-order": (
        "crates/outpost/src/components/mod.rs",
        "    pub const ALL: [Phase; 4] = [Phase::Intake, Phase::Drain, Phase::Egress, Phase::Serve];",
        "    pub const ALL: [Phase; 4] = [Phase::Intake, Phase::Egress, Phase::Drain, Phase::Serve];",
        ["-p", "outpost", "--test", "issue12_components", "issue12_shutdown_runs_the_phases_in_order"],
    ),
}

def main():
    names = sys.argv[1:] or list(MUTATIONS)
    lock = Path("Cargo.lock").read_text()
    bad = []
    for name in names:
        path, old, new, args = MUTATIONS[name]
        p = Path(path)
        text = p.read_text()
        if text.count(old) != 1:
            sys.exit(f"{name}: the text to mutate is not in {path} exactly once; update this script")
        try:
            p.write_text(text.replace(old, new))
            r = subprocess.run(["cargo", "test", *args], capture_output=True, text=True)
        finally:
            p.write_text(text)
            Path("Cargo.lock").write_text(lock)
        out = r.stdout + r.stderr
        if "test result: FAILED" in out:
            print(f"{name}: guard FAILED, as it must")
            continue
        if r.returncode != 0:
            sys.exit(f"{name}: the test did not run (build error?):\n{out[-3000:]}")
        print(f"{name}: guard PASSED: it does not guard")
        bad.append(name)
    sys.exit(1 if bad else 0)

main()
