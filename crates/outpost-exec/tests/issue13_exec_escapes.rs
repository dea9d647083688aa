//! Issue 13, exec safety: escape attempts, each refused with its reason code and field, each
//! recorded as a refused line in the audit log, and none of them leaving its marker behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};

use common::{audit_lines, fixture, markers_left, write_script, Fixture};
use outpost_exec::{Decision, ExecError, Phase, ReasonCode, Request};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

struct Case {
    what: String,
    req: Request,
    code: ReasonCode,
    field: String,
}

fn case(what: impl Into<String>, req: Request, code: ReasonCode, field: &str) -> Case {
    Case {
        what: what.into(),
        req,
        code,
        field: field.into(),
    }
}

/// Shell metacharacters, each around a command that would leave a marker if a shell ran it.
fn metachar_payloads(m: &str) -> Vec<(&'static str, String)> {
    vec![
        ("semicolon", format!("x; touch {m}/semi")),
        ("pipe", format!("x | touch {m}/pipe")),
        ("and", format!("x && touch {m}/and")),
        ("dollar-paren", format!("$(touch {m}/subst)")),
        ("backticks", format!("`touch {m}/tick`")),
        ("newline", format!("x\ntouch {m}/newline")),
        ("redirect", format!("x > {m}/redirect")),
    ]
}

fn cases(f: &Fixture) -> Vec<Case> {
    let m = f.markers.display().to_string();
    let mut v = Vec::new();
    // Shell metacharacters in every parameter type.
    for (name, p) in metachar_payloads(&m) {
        v.push(case(
            format!("string param, {name}"),
            Request::command("echo").param("msg", p.clone()),
            ReasonCode::PatternMismatch,
            "params.msg",
        ));
        v.push(case(
            format!("integer param, {name}"),
            Request::command("count").param("n", format!("1{p}")),
            ReasonCode::WrongType,
            "params.n",
        ));
        v.push(case(
            format!("enum param, {name}"),
            Request::command("svc").param("action", format!("start{p}")),
            ReasonCode::NotInEnum,
            "params.action",
        ));
        // As a path under the root (slashes made plain characters): it names no file, and
        // the metacharacters never reach a shell.
        v.push(case(
            format!("path param, {name}"),
            Request::command("cat").param("file", p.replace(&m, "m").replace('/', "_")),
            ReasonCode::PathNotFound,
            "params.file",
        ));
    }
    // Paths out of the root.
    let secret = f.outside.join("secret").display().to_string();
    symlink(f.outside.join("secret"), f.root.join("link")).expect("symlink in root");
    symlink(&f.outside, f.root.join("dirlink")).expect("dir symlink in root");
    for (what, p, code) in [
        (
            "dot-dot",
            "../outside/secret".to_owned(),
            ReasonCode::PathTraversal,
        ),
        (
            "dot-dot inside",
            "a/../../outside/secret".to_owned(),
            ReasonCode::PathTraversal,
        ),
        (
            "dot component",
            "./inside.txt".to_owned(),
            ReasonCode::PathTraversal,
        ),
        (
            "double slash",
            "x//inside.txt".to_owned(),
            ReasonCode::PathTraversal,
        ),
        (
            "absolute /etc/passwd",
            "/etc/passwd".to_owned(),
            ReasonCode::PathOutsideRoot,
        ),
        (
            "absolute outside",
            secret.clone(),
            ReasonCode::PathOutsideRoot,
        ),
        (
            "symlink to a file outside",
            "link".to_owned(),
            ReasonCode::PathOutsideRoot,
        ),
        (
            "through a dir symlink",
            "dirlink/secret".to_owned(),
            ReasonCode::PathOutsideRoot,
        ),
    ] {
        v.push(case(
            format!("path {what}"),
            Request::command("cat").param("file", p),
            code,
            "params.file",
        ));
    }
    // Options smuggled as values.
    v.push(case(
        "leading dash",
        Request::command("echo").param("msg", "-e"),
        ReasonCode::OptionInjection,
        "params.msg",
    ));
    // Environment injection, through the request or through params.
    for (var, code) in [
        ("LD_PRELOAD", ReasonCode::EnvForbidden),
        ("LD_LIBRARY_PATH", ReasonCode::EnvForbidden),
        ("PATH", ReasonCode::EnvForbidden),
        ("BASH_ENV", ReasonCode::EnvForbidden),
        ("ENV", ReasonCode::EnvForbidden),
        ("HARMLESS", ReasonCode::EnvNotAllowed),
    ] {
        let mut req = Request::command("echo").param("msg", "hi");
        req.env.insert(var.into(), json!(format!("{m}/x.so")));
        v.push(case(
            format!("request env {var}"),
            req,
            code,
            &format!("env.{var}"),
        ));
    }
    v.push(case(
        "LD_PRELOAD as a param",
        Request::command("echo")
            .param("msg", "hi")
            .param("LD_PRELOAD", format!("{m}/x.so")),
        ReasonCode::UnknownParam,
        "params.LD_PRELOAD",
    ));
    v.push(case(
        "LD_PRELOAD=... as a value",
        Request::command("echo").param("msg", format!("LD_PRELOAD={m}/x.so")),
        ReasonCode::PatternMismatch,
        "params.msg",
    ));
    // Overlong and NUL-containing arguments.
    v.push(case(
        "string over max_len",
        Request::command("echo").param("msg", "a".repeat(4097)),
        ReasonCode::TooLong,
        "params.msg",
    ));
    v.push(case(
        "string over 4 KiB in a permissive param",
        Request::command("anything").param("s", "a".repeat(5000)),
        ReasonCode::TooLong,
        "params.s",
    ));
    for (what, req, field) in [
        (
            "string",
            Request::command("anything").param("s", "a\0b"),
            "params.s",
        ),
        (
            "integer",
            Request::command("count").param("n", "1\0"),
            "params.n",
        ),
        (
            "enum",
            Request::command("svc").param("action", "start\0"),
            "params.action",
        ),
        (
            "path",
            Request::command("cat").param("file", "inside.txt\0"),
            "params.file",
        ),
    ] {
        v.push(case(
            format!("NUL in {what}"),
            req,
            ReasonCode::NulByte,
            field,
        ));
    }
    // Names.
    v.push(case(
        "cyrillic look-alike of echo",
        Request::command("\u{0435}cho").param("msg", "hi"),
        ReasonCode::BadName,
        "command",
    ));
    v.push(case(
        "fullwidth look-alike of echo",
        Request::command("\u{ff45}\u{ff43}\u{ff48}\u{ff4f}").param("msg", "hi"),
        ReasonCode::BadName,
        "command",
    ));
    v.push(case(
        "echo with a trailing NUL",
        Request::command("echo\0").param("msg", "hi"),
        ReasonCode::BadName,
        "command",
    ));
    v.push(case(
        "unknown command",
        Request::command("rm"),
        ReasonCode::UnknownCommand,
        "command",
    ));
    v.push(case(
        "shell as a command",
        Request::command("sh").param("c", format!("touch {m}/sh")),
        ReasonCode::UnknownCommand,
        "command",
    ));
    // Parameters: missing, extra, wrong type, range, enum, pattern.
    v.push(case(
        "missing param",
        Request::command("echo"),
        ReasonCode::MissingParam,
        "params.msg",
    ));
    v.push(case(
        "extra param",
        Request::command("svc")
            .param("action", "start")
            .param("force", true),
        ReasonCode::UnknownParam,
        "params.force",
    ));
    v.push(case(
        "number for a string",
        Request::command("echo").param("msg", 5),
        ReasonCode::WrongType,
        "params.msg",
    ));
    v.push(case(
        "array for a string",
        Request::command("echo").param("msg", json!(["a", "b"])),
        ReasonCode::WrongType,
        "params.msg",
    ));
    for n in [
        json!(0),
        json!(11),
        json!(-1),
        json!(i64::MAX),
        json!("010"),
        json!(1.5),
    ] {
        let code = if n.is_i64() {
            ReasonCode::OutOfRange
        } else {
            ReasonCode::WrongType
        };
        v.push(case(
            format!("integer {n}"),
            Request::command("count").param("n", n),
            code,
            "params.n",
        ));
    }
    v.push(case(
        "enum not in the list",
        Request::command("svc").param("action", "restart"),
        ReasonCode::NotInEnum,
        "params.action",
    ));
    v.push(case(
        "enum in another case",
        Request::command("svc").param("action", "START"),
        ReasonCode::NotInEnum,
        "params.action",
    ));
    v.push(case(
        "pattern mismatch",
        Request::command("echo").param("msg", "a/b"),
        ReasonCode::PatternMismatch,
        "params.msg",
    ));
    // Request shape.
    v.push(case(
        "no target",
        Request::default(),
        ReasonCode::NoTarget,
        "command",
    ));
    let mut both = Request::command("echo").param("msg", "hi");
    both.script = Some("ok.sh".into());
    v.push(case(
        "command and script",
        both,
        ReasonCode::NoTarget,
        "command",
    ));
    let mut extra = Request::command("echo").param("msg", "hi");
    extra.extra.insert("shell".into(), json!(true));
    v.push(case(
        "unknown field",
        extra,
        ReasonCode::UnknownField,
        "shell",
    ));
    v.push(case(
        "args to a command",
        Request::command("echo")
            .param("msg", "hi")
            .arg(format!("; touch {m}/args")),
        ReasonCode::ArgsNotAllowed,
        "args",
    ));
    let mut longer = Request::command("echo").param("msg", "hi");
    longer.timeout_ms = Some(3_600_000);
    v.push(case(
        "a longer timeout",
        longer,
        ReasonCode::OutOfRange,
        "timeout_ms",
    ));
    // Inline scripts while inline is off.
    let inline = Request::inline(format!("touch {m}/inline").as_bytes(), None);
    v.push(case(
        "inline while off",
        inline,
        ReasonCode::InlineDisabled,
        "inline",
    ));
    // The scripts directory.
    let evil = format!("#!/bin/sh\ntouch {m}/script-ran\n");
    let ww = write_script(&f.scripts, "world.sh", &evil);
    fs::set_permissions(&ww, fs::Permissions::from_mode(0o757)).expect("chmod");
    v.push(case(
        "world-writable script",
        Request::script("world.sh"),
        ReasonCode::ScriptWritable,
        "script",
    ));
    let gw = write_script(&f.scripts, "group.sh", &evil);
    fs::set_permissions(&gw, fs::Permissions::from_mode(0o775)).expect("chmod");
    v.push(case(
        "group-writable script",
        Request::script("group.sh"),
        ReasonCode::ScriptWritable,
        "script",
    ));
    let other = write_script(&f.scripts, "other.sh", &evil);
    std::os::unix::fs::chown(&other, Some(65534), Some(65534)).expect("chown");
    v.push(case(
        "script owned by another uid",
        Request::script("other.sh"),
        ReasonCode::ScriptOwner,
        "script",
    ));
    let target = write_script(f.dir.path(), "evil-elsewhere.sh", &evil);
    symlink(&target, f.scripts.join("sym.sh")).expect("symlink");
    v.push(case(
        "symlink in the scripts dir",
        Request::script("sym.sh"),
        ReasonCode::ScriptNotRegular,
        "script",
    ));
    fs::hard_link(&target, f.scripts.join("hard.sh")).expect("hard link");
    v.push(case(
        "hard link in the scripts dir",
        Request::script("hard.sh"),
        ReasonCode::ScriptLinks,
        "script",
    ));
    rustix::fs::mknodat(
        rustix::fs::CWD,
        f.scripts.join("fifo.sh"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
    v.push(case(
        "a FIFO in the scripts dir",
        Request::script("fifo.sh"),
        ReasonCode::ScriptNotRegular,
        "script",
    ));
    fs::create_dir(f.scripts.join("dir.sh")).expect("mkdir");
    v.push(case(
        "a directory in the scripts dir",
        Request::script("dir.sh"),
        ReasonCode::ScriptNotRegular,
        "script",
    ));
    v.push(case(
        "script path traversal",
        Request::script("../evil-elsewhere.sh"),
        ReasonCode::BadName,
        "script",
    ));
    v.push(case(
        "hidden script",
        Request::script(".profile"),
        ReasonCode::BadName,
        "script",
    ));
    v.push(case(
        "absolute script path",
        Request::script(target.display().to_string()),
        ReasonCode::BadName,
        "script",
    ));
    v.push(case(
        "missing script",
        Request::script("nope.sh"),
        ReasonCode::ScriptNotFound,
        "script",
    ));
    write_script(
        &f.scripts,
        "perl.pl",
        &format!("#!/usr/bin/perl\nsystem('touch {m}/perl');\n"),
    );
    v.push(case(
        "interpreter not allowed",
        Request::script("perl.pl"),
        ReasonCode::BadInterpreter,
        "script",
    ));
    write_script(
        &f.scripts,
        "flags.sh",
        &format!("#!/bin/sh -c\ntouch {m}/flags\n"),
    );
    v.push(case(
        "shebang with -c",
        Request::script("flags.sh"),
        ReasonCode::BadInterpreter,
        "script",
    ));
    write_script(&f.scripts, "ok.sh", "#!/bin/sh\necho \"$1\"\n");
    v.push(case(
        "NUL in a script arg",
        Request::script("ok.sh").arg("a\0b"),
        ReasonCode::NulByte,
        "args[0]",
    ));
    v.push(case(
        "object as a script arg",
        Request::script("ok.sh").arg(json!({"a": 1})),
        ReasonCode::WrongType,
        "args[0]",
    ));
    v.push(case(
        "overlong script arg",
        Request::script("ok.sh").arg("x".repeat(5000)),
        ReasonCode::TooLong,
        "args[0]",
    ));
    v.push(case(
        "params to a script",
        Request::script("ok.sh").param("x", "1"),
        ReasonCode::ArgsNotAllowed,
        "params",
    ));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_escape_attempts_are_refused_with_their_reason_and_audited() {
    let f = fixture();
    let cases = cases(&f);
    assert!(cases.len() >= 40, "only {} cases", cases.len());

    let mut seqs = BTreeMap::new();
    for c in &cases {
        let got = f
            .exec
            .run(common::origin(), c.req.clone(), CancellationToken::new())
            .await;
        let refused = match got {
            Err(ExecError::Refused(r)) => r,
            Err(other) => panic!("{}: expected a refusal, got error {other}", c.what),
            Ok(fin) => panic!(
                "{}: expected a refusal, but it ran: {:?}",
                c.what, fin.result
            ),
        };
        assert_eq!(
            (refused.refusal.reason_code, refused.refusal.field.as_str()),
            (c.code, c.field.as_str()),
            "{}: {}",
            c.what,
            refused.refusal
        );
        assert_eq!(refused.record.decision, Decision::Refused, "{}", c.what);
        seqs.insert(refused.record.seq, c);
    }

    // Every attempt has its refused line, with the same reason and field, and nothing else
    // was written (no decision to run, no outcome).
    let lines = audit_lines(&f.audit_path);
    assert_eq!(lines.len(), cases.len(), "one line per attempt");
    for line in &lines {
        let c = seqs.get(&line.seq).expect("a line for a case");
        assert_eq!(line.phase, Phase::Decision, "{}", c.what);
        assert_eq!(line.decision, Decision::Refused, "{}", c.what);
        assert_eq!(line.reason_code, Some(c.code), "{}", c.what);
        assert_eq!(line.field.as_deref(), Some(c.field.as_str()), "{}", c.what);
        assert!(
            line.argv.is_none(),
            "{}: a refused line has no argv",
            c.what
        );
    }
    outpost_exec::verify(&f.audit_path).expect("the log of refusals verifies");
    assert_eq!(markers_left(&f), Vec::<String>::new(), "an escape ran");
}

/// The look-alike refusals are by name shape, not by a lookup that could normalize: the
/// exact ASCII name still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_the_ascii_name_runs_where_its_look_alikes_are_refused() {
    let f = fixture();
    let fin = f
        .exec
        .run(
            common::origin(),
            Request::command("echo").param("msg", "hi"),
            CancellationToken::new(),
        )
        .await
        .expect("echo runs");
    assert_eq!(fin.result.stdout.bytes, b"hi\n");
    let v: Value = serde_json::to_value(&fin.result).expect("result serializes");
    assert_eq!(v["stdout"], "hi\n");
}
