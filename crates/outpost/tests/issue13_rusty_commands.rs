//! Issue 13: rusty_agent's `/agent/command/execute` and `/agent/job/execute` through
//! `outpost run`: command lines mapped onto the exec allowlist, never a shell, every escape
//! refused and audited; scripts only as inline scripts, only when `exec.allow_inline`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use outpost_test_support::rusty::{b64, Rusty};
use serde_json::{json, Value};

/// Command lines that try to reach a shell, a program nobody allowed, or an argument the
/// command's pattern refuses: each answered 500 `{success:false}`, each refused and
/// audited (source adapter, who the Basic user), and none ran.
#[tokio::test]
async fn issue13_rusty_command_execute_escapes_are_refused_and_audited() {
    let r = Rusty::start(false);
    let canary = r.data.parent().unwrap().join("pwned");
    let c = canary.display().to_string();
    let attempts = [
        format!("hello abc; touch {c}"),
        format!("hello abc && touch {c}"),
        format!("hello abc | touch {c}"),
        format!("hello $(touch {c})"),
        format!("hello `touch {c}`"),
        format!("hello abc\ntouch {c}"),
        format!("hello abc > {c}"),
        format!("touch {c}"),
        format!("/usr/bin/touch {c}"),
        "rm -rf /".to_owned(),
        "sh -c id".to_owned(),
        "hello ABC".to_owned(),
        "hello -n".to_owned(),
        "hello abc extra".to_owned(),
        "hеllo abc".to_owned(), // Cyrillic е: a look-alike of an allowed name
        format!("PATH=/tmp hello {c}"),
        "hello ${IFS}x".to_owned(),
        "hello 'a'".to_owned(),
    ];
    let before = r.audit().len();
    for a in &attempts {
        let (st, v) = r
            .call(
                "POST",
                "/agent/command/execute",
                Some(json!({"command": b64(a)})),
            )
            .await;
        assert_eq!(st, 500, "{a:?}: {v}");
        assert_eq!(v["success"], false, "{a:?}: {v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with("Command refused"),
            "{a:?}: {v}"
        );
    }
    let audit = r.audit();
    let refused: Vec<&Value> = audit[before..]
        .iter()
        .filter(|l| l["decision"] == "refused")
        .collect();
    assert_eq!(refused.len(), attempts.len(), "{audit:#?}");
    for l in &refused {
        assert_eq!(l["source"], "adapter", "{l}");
        assert_eq!(l["who"], "rusty_agent:Admin", "{l}");
    }
    assert!(audit[before..].iter().all(|l| l["decision"] != "allowed"));
    assert!(!canary.exists(), "an escape ran");
    // The chain still verifies.
    let out = std::process::Command::new(common::BIN)
        .args(["audit", "verify"])
        .arg(r.data.join("audit.log"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With `exec.allow_inline = true`: a script runs (bash and python3, rusty_agent's types 1
/// and 0), async requests answer at once, and shell text runs as an inline `sh` script,
/// audited with its hash like any inline script.
#[tokio::test]
async fn issue13_rusty_inline_scripts_run_only_when_allowed() {
    let r = Rusty::start(true);
    let script = |ty: u64, content: &str, asynchronous: bool| {
        json!({"script_name": "x", "content": content, "arguments": "", "cron_expression": "",
               "script_type": ty, "async_exec": asynchronous, "opensearch_index": "", "opensearch_enabled": false})
    };
    let (st, v) = r
        .call(
            "POST",
            "/agent/job/execute",
            Some(script(1, "echo from-bash\r\n", false)),
        )
        .await;
    assert_eq!(
        (st, v),
        (200, json!({"success": true, "message": "from-bash\n"}))
    );
    if std::path::Path::new("/usr/bin/python3").exists() {
        let (st, v) = r
            .call(
                "POST",
                "/agent/job/execute",
                Some(script(0, "print('from-python')", false)),
            )
            .await;
        assert_eq!(
            (st, v),
            (200, json!({"success": true, "message": "from-python\n"}))
        );
    }
    let (st, v) = r
        .call(
            "POST",
            "/agent/job/execute",
            Some(script(1, "exit 3", false)),
        )
        .await;
    assert_eq!(st, 500, "{v}");
    assert_eq!(v["success"], false);
    let (st, v) = r
        .call("POST", "/agent/job/execute", Some(script(1, "true", true)))
        .await;
    assert_eq!(
        (st, v),
        (
            200,
            json!({"success": true, "message": "Job running in the background"})
        )
    );
    let (st, v) = r
        .call(
            "POST",
            "/agent/command/execute",
            Some(json!({"command": b64("echo a | tr a b")})),
        )
        .await;
    assert_eq!((st, v), (200, json!({"success": true, "message": "b\n"})));
    let (st, v) = r
        .call(
            "POST",
            "/agent/command/execute",
            Some(json!({"command": b64("ls /nonexistent-dir")})),
        )
        .await;
    assert_eq!(st, 500, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Command failed with error: "),
        "{v}"
    );
    let audit = r.audit();
    assert!(
        audit.iter().any(|l| l["decision"] == "allowed"
            && l["source"] == "adapter"
            && l["kind"] == "inline"),
        "{audit:#?}"
    );
}
