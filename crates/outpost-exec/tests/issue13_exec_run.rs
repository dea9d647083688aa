//! Issue 13, allowed runs: the argv a program receives is exactly the values sent, the
//! environment is scrubbed to the configured keys, the cwd and user are honoured, and a
//! script runs as it was when checked, whatever replaces it in the directory afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::symlink;

use common::{audit_lines, fixture, fixture_with, markers_left, write_script};
use outpost_exec::{
    Decision, ExecError, ExitOutcome, LandlockMode, LandlockReport, Phase, ReasonCode, Request,
    SAFE_PATH,
};
use tokio_util::sync::CancellationToken;

async fn run_ok(f: &common::Fixture, req: Request) -> outpost_exec::Finished {
    match f
        .exec
        .run(common::origin(), req, CancellationToken::new())
        .await
    {
        Ok(fin) => fin,
        Err(e) => panic!("expected a run, got {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_metacharacters_reach_the_program_as_one_unchanged_argument() {
    let f = fixture();
    let m = f.markers.display().to_string();
    let value = format!("a b;touch {m}/x | `touch {m}/y` $(touch {m}/z) && >{m}/w\n\t'\"*?~ -n");
    let fin = run_ok(&f, Request::command("anything").param("s", value.clone())).await;
    assert_eq!(fin.result.exit, ExitOutcome::Exited { code: 0 });
    assert_eq!(
        fin.result.stdout.bytes,
        value.as_bytes(),
        "printf %s got the value whole"
    );
    assert_eq!(
        markers_left(&f),
        Vec::<String>::new(),
        "nothing was expanded"
    );
    assert_eq!(
        fin.decision.argv.as_deref(),
        Some(&["/usr/bin/printf".to_owned(), "%s".into(), value][..]),
        "the audit line has the argv as run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_an_allowed_command_runs_with_its_argv_and_is_audited_twice() {
    let f = fixture();
    let fin = run_ok(&f, Request::command("echo").param("msg", "marker-13 ok")).await;
    assert_eq!(fin.result.stdout.bytes, b"marker-13 ok\n");
    assert_eq!(fin.result.stderr.bytes, b"");
    assert!(!fin.result.timed_out);
    let lines = audit_lines(&f.audit_path);
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0].phase, lines[0].decision),
        (Phase::Decision, Decision::Allowed)
    );
    assert_eq!(
        lines[0].argv.as_deref(),
        Some(&["/bin/echo".to_owned(), "marker-13 ok".into()][..])
    );
    assert_eq!(lines[1].phase, Phase::Outcome);
    assert_eq!(lines[1].decision_seq, Some(lines[0].seq));
    assert_eq!(lines[1].exit_code, Some(0));
    assert_eq!(lines[1].stdout_bytes, Some(13));
    assert_eq!(fin.outcome.as_ref().expect("outcome written"), &lines[1]);

    let fin = run_ok(&f, Request::command("count").param("n", "7")).await;
    assert_eq!(
        fin.result.stdout.bytes, b"7\n",
        "a canonical integer string is the element"
    );
    let fin = run_ok(&f, Request::command("svc").param("action", "stop")).await;
    assert_eq!(fin.result.stdout.bytes, b"stop\n");
    let fin = run_ok(&f, Request::command("cat").param("file", "inside.txt")).await;
    assert_eq!(fin.result.stdout.bytes, b"inside\n");
    let inside = f.root.join("inside.txt").display().to_string();
    let fin = run_ok(&f, Request::command("cat").param("file", inside)).await;
    assert_eq!(
        fin.result.stdout.bytes, b"inside\n",
        "an absolute path under the root"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_the_environment_is_scrubbed_to_the_configured_keys_and_secrets_stay_out_of_the_audit(
) {
    let f = fixture();
    let fin = run_ok(&f, Request::command("env")).await;
    let text = String::from_utf8(fin.result.stdout.bytes.clone()).expect("utf-8");
    let keys: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["LANG", "PATH", "TMPDIR", "TOKEN"]),
        "only the configured keys, the safe PATH and the run's TMPDIR: {text}"
    );
    assert!(
        text.lines().any(|l| l == format!("PATH={SAFE_PATH}")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "TOKEN=s3cret-value-13"),
        "the secret reaches the program"
    );
    let log = fs::read_to_string(&f.audit_path).expect("audit");
    assert!(
        !log.contains("s3cret-value-13"),
        "a secret env value is never audited"
    );
    assert!(log.contains("\"TOKEN\":\"<redacted>\""), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_the_cwd_is_the_configured_one_or_a_private_directory_removed_after() {
    let f = fixture();
    let fin = run_ok(&f, Request::command("pwd")).await;
    assert_eq!(
        fin.result.stdout.bytes,
        format!("{}\n", f.root.display()).as_bytes()
    );

    let fin = run_ok(&f, Request::command("pwd_default")).await;
    let dir = String::from_utf8(fin.result.stdout.bytes.clone()).expect("utf-8");
    let dir = dir.trim_end();
    assert!(
        dir.starts_with(&f.dir.path().join("work").display().to_string()),
        "{dir}"
    );
    assert!(
        !std::path::Path::new(dir).exists(),
        "the run's private directory is removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_commands_run_as_the_unprivileged_user_when_the_agent_is_root() {
    let f = fixture();
    let fin = run_ok(&f, Request::command("whoami")).await;
    assert_eq!(
        fin.result.stdout.bytes, b"65534\n",
        "exec.user defaults to nobody"
    );
    assert_eq!(
        (fin.result.sandbox.uid, fin.result.sandbox.gid),
        (65534, 65534)
    );
    assert!(fin.result.sandbox.no_new_privs);

    let f = fixture_with("[as_root]\nargv = [\"id\", \"-u\"]\nuser = 0\n", |_| {});
    let fin = run_ok(&f, Request::command("as_root")).await;
    assert_eq!(
        fin.result.stdout.bytes, b"0\n",
        "only an explicit user = 0 runs as root"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_scripts_run_by_name_with_their_interpreter_and_args() {
    let f = fixture();
    write_script(&f.scripts, "hello.sh", "#!/bin/sh\nprintf '%s|' \"$@\"\n");
    let fin = run_ok(
        &f,
        Request::script("hello.sh").arg("a b").arg("$(id)").arg(""),
    )
    .await;
    assert_eq!(fin.result.stdout.bytes, b"a b|$(id)||");
    write_script(
        &f.scripts,
        "hello.py",
        "#!/usr/bin/env python3\nimport sys\nprint(sys.argv[1:])\n",
    );
    let fin = run_ok(&f, Request::script("hello.py").arg("x;y")).await;
    assert_eq!(
        fin.result.stdout.bytes,
        b"['x;y']\n",
        "{:?}",
        fin.result.stderr.text()
    );
    write_script(
        &f.scripts,
        "hello.bash",
        "#!/bin/bash -eu\necho \"${BASH_VERSION:+bash}\"\n",
    );
    let fin = run_ok(&f, Request::script("hello.bash")).await;
    assert_eq!(
        fin.result.stdout.bytes,
        b"bash\n",
        "{:?}",
        fin.result.stderr.text()
    );
    let body = fs::read(f.scripts.join("hello.bash")).expect("read");
    assert_eq!(
        fin.decision.script_sha256.as_deref(),
        Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body)).as_str()),
        "the audit line names the bytes that ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_inline_scripts_run_only_when_allowed() {
    let f = fixture_with("", |s| s.allow_inline = true);
    let mut req = Request::inline(b"echo inline \"$1\"\n", Some("bash"));
    req.args.push("arg".into());
    let fin = run_ok(&f, req.clone()).await;
    assert_eq!(fin.result.stdout.bytes, b"inline arg\n");

    let mut bad = req.clone();
    bad.inline.as_mut().expect("inline").content_base64 = "!!not base64!!".into();
    let Err(ExecError::Refused(r)) = f
        .exec
        .run(common::origin(), bad, CancellationToken::new())
        .await
    else {
        panic!("bad base64 must be refused");
    };
    assert_eq!(r.refusal.reason_code, ReasonCode::InlineInvalid);
    let mut perl = req;
    perl.inline.as_mut().expect("inline").interpreter = Some("perl".into());
    let Err(ExecError::Refused(r)) = f
        .exec
        .run(common::origin(), perl, CancellationToken::new())
        .await
    else {
        panic!("perl must be refused");
    };
    assert_eq!(
        (r.refusal.reason_code, r.refusal.field.as_str()),
        (ReasonCode::BadInterpreter, "inline.interpreter")
    );
}

/// The open-once design: between the check (prepare) and the run (execute) the script is
/// replaced by a rename, a symlink, a hard link and an in-place rewrite; each time what runs
/// is the checked original (its output), never the replacement (whose marker stays absent).
/// Asked for again by name afterwards, the symlink and the hard link are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_a_script_swapped_between_check_and_run_is_not_what_runs() {
    // Landlock off: it would stop the replacement's marker write on its own, and this test
    // is about what runs, not what a run may write.
    let f = fixture_with("", |s| s.landlock = LandlockMode::Off);
    let m = f.markers.display().to_string();
    let evil = write_script(
        f.dir.path(),
        "evil.sh",
        &format!("#!/bin/sh\ntouch {m}/swapped-ran\necho swapped\n"),
    );
    let original = "#!/bin/sh\necho original\n";
    for swap in ["rename", "symlink", "hardlink", "rewrite"] {
        let path = write_script(&f.scripts, "job.sh", original);
        let prepared = f
            .exec
            .prepare(common::origin(), Request::script("job.sh"))
            .await
            .expect("the original passes its check");
        match swap {
            "rename" => {
                let tmp = write_script(
                    &f.scripts,
                    "job.sh.new",
                    &fs::read_to_string(&evil).expect("evil"),
                );
                fs::rename(tmp, &path).expect("rename over");
            }
            "symlink" => {
                fs::remove_file(&path).expect("rm");
                symlink(&evil, &path).expect("symlink");
            }
            "hardlink" => {
                fs::remove_file(&path).expect("rm");
                fs::hard_link(&evil, &path).expect("hard link");
            }
            _ => fs::write(&path, fs::read(&evil).expect("evil")).expect("rewrite in place"),
        }
        let fin = f
            .exec
            .execute(prepared, CancellationToken::new())
            .await
            .expect("runs");
        assert_eq!(
            fin.result.stdout.bytes, b"original\n",
            "{swap}: the checked bytes ran"
        );
        assert_eq!(
            markers_left(&f),
            Vec::<String>::new(),
            "{swap}: the replacement ran"
        );

        let again = f
            .exec
            .run(
                common::origin(),
                Request::script("job.sh"),
                CancellationToken::new(),
            )
            .await;
        match swap {
            "symlink" | "hardlink" => {
                let Err(ExecError::Refused(r)) = again else {
                    panic!("{swap}: the swapped-in file must be refused by name");
                };
                let want = if swap == "symlink" {
                    ReasonCode::ScriptNotRegular
                } else {
                    ReasonCode::ScriptLinks
                };
                assert_eq!(r.refusal.reason_code, want, "{swap}");
            }
            // A rename or a rewrite by the directory's owner is a new script, run as such.
            _ => {
                let fin = again.expect("a replaced script by its owner runs");
                assert_eq!(fin.result.stdout.bytes, b"swapped\n", "{swap}");
                fs::remove_file(f.markers.join("swapped-ran")).expect("marker of the new script");
            }
        }
        fs::remove_file(&path).expect("rm job.sh");
    }
    outpost_exec::verify(&f.audit_path).expect("the log verifies");
}

/// Landlock where the kernel has it: writes outside the run's directories fail, inside them
/// succeed; where it does not, the report says `unavailable` and a command that requires it
/// is refused rather than run without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_landlock_confines_writes_or_is_reported_unavailable() {
    let extra = r#"
[write_both]
argv = ["echo in > \"$TMPDIR/f\" && echo ok-in; echo out > @MARKERS@/landlock-escape && echo ok-out"]
shell_script = true

[strict]
argv = ["true"]
landlock = "required"
"#;
    let f = fixture_with(extra, |_| {});
    let fin = run_ok(&f, Request::command("write_both")).await;
    let out = String::from_utf8_lossy(&fin.result.stdout.bytes).into_owned();
    eprintln!("landlock: {:?}", fin.result.sandbox.landlock);
    match &fin.result.sandbox.landlock {
        LandlockReport::Enforced { abi, .. } => {
            assert!(*abi >= 1);
            assert_eq!(out, "ok-in\n", "stderr: {}", fin.result.stderr.text());
            assert_eq!(
                markers_left(&f),
                Vec::<String>::new(),
                "a write outside got through"
            );
            run_ok(&f, Request::command("strict")).await;
        }
        LandlockReport::Unavailable { reason } => {
            assert!(!reason.is_empty());
            let Err(ExecError::Refused(r)) = f
                .exec
                .run(
                    common::origin(),
                    Request::command("strict"),
                    CancellationToken::new(),
                )
                .await
            else {
                panic!("landlock = required must not run without Landlock");
            };
            assert_eq!(r.refusal.reason_code, ReasonCode::SandboxUnavailable);
        }
        LandlockReport::Off => panic!("best effort is the default"),
    }
}

/// Issue 18's recovery ladder: a `local_only` command (the built-in reboot) runs for the
/// agent's own connectivity monitor and is refused, and audited, for a job from any
/// other source, whatever its adapter remembers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_a_local_only_command_runs_for_the_ladder_and_is_refused_to_every_job() {
    let f = fixture_with(
        "[ladder_step]\nargv = [\"/usr/bin/printf\", \"stepped\"]\nlocal_only = true\n",
        |_| {},
    );
    for source in [
        outpost_exec::Source::Api,
        outpost_exec::Source::Uplink,
        outpost_exec::Source::Schedule,
        outpost_exec::Source::Adapter,
        outpost_exec::Source::Cli,
    ] {
        let origin = outpost_exec::Origin::new(source, "issue18-test");
        match f
            .exec
            .run(
                origin,
                Request::command("ladder_step"),
                CancellationToken::new(),
            )
            .await
        {
            Err(ExecError::Refused(r)) => {
                assert_eq!(r.refusal.reason_code, ReasonCode::LocalOnly, "{source:?}");
                assert_eq!(r.record.decision, Decision::Refused);
            }
            other => panic!("{source:?}: expected a local_only refusal, got {other:?}"),
        }
    }
    let ladder = outpost_exec::Origin::new(outpost_exec::Source::Connectivity, "ladder");
    let fin = f
        .exec
        .run(
            ladder,
            Request::command("ladder_step"),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(fin.result.stdout.bytes, b"stepped");
    let refused = audit_lines(&f.audit_path)
        .into_iter()
        .filter(|r| r.reason_code == Some(ReasonCode::LocalOnly))
        .count();
    assert_eq!(refused, 5, "every refusal is on the audit log");
}
