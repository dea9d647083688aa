//! Issue 13: the rusty_agent drop-in (`compat.rusty`) through `outpost run`: every one of
//! rusty_agent's 22 method/path pairs with its published JSON shapes (see
//! ../shared/compat/rusty_agent.md), with and without Basic auth; bad JSON and content types
//! with rusty_agent's status codes; the config it needs. Commands are in
//! `issue13_rusty_commands.rs`, saved jobs in `issue13_rusty_jobs.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{wait_until, Agent, Options};
use outpost_test_support::rusty::{b64, bcrypt_hash, Rusty, PASS, USER};
use serde_json::{json, Value};

/// Every method/path pair of rusty_agent's router (§2), with a body that decodes.
fn routes() -> Vec<(&'static str, &'static str, Option<Value>)> {
    let script = json!({"script_name": "s", "content": b64("echo hi"), "arguments": "",
        "cron_expression": "0 0/5 * * * * *", "script_type": 1, "async_exec": false,
        "opensearch_index": "", "opensearch_enabled": false});
    vec![
        ("GET", "/agent/status", None),
        ("GET", "/agent/pid", None),
        ("GET", "/agent/metric", None),
        ("GET", "/agent/info", None),
        ("GET", "/agent/config", None),
        ("PUT", "/agent/config", Some(json!([]))),
        (
            "PUT",
            "/agent/config/auto_upgrade",
            Some(json!({"command": true})),
        ),
        (
            "PUT",
            "/agent/userpassword/update",
            Some(json!({"name": "x", "pass": "y"})),
        ),
        ("POST", "/agent/heartbeat", Some(json!({"id": "hb"}))),
        (
            "POST",
            "/agent/command/execute",
            Some(json!({"command": b64("hello abc")})),
        ),
        ("GET", "/agent/jobs", None),
        ("GET", "/agent/jobs?name=s", None),
        ("POST", "/agent/job", Some(script.clone())),
        ("PUT", "/agent/job", Some(script.clone())),
        ("DELETE", "/agent/job?script_name=s", None),
        ("POST", "/agent/job/execute", Some(script)),
        ("PUT", "/agent/jobs/start", None),
        ("PUT", "/agent/jobs/stop", None),
        ("PUT", "/agent/shutdown", None),
        ("PUT", "/agent/restart", None),
        ("GET", "/agent/version", None),
        (
            "PUT",
            "/agent/version",
            Some(json!({"file_name_version": "x"})),
        ),
        ("GET", "/agent/version/list", None),
    ]
}

/// No credentials, a wrong password, a wrong user: 401 with rusty_agent's messages on
/// every route (the wrong user and the wrong password answer alike); nothing runs.
#[tokio::test]
async fn issue13_rusty_every_route_needs_basic_auth_with_rustys_401_messages() {
    let r = Rusty::start(false);
    let routes = routes();
    assert_eq!(
        routes.len(),
        23,
        "22 method/path pairs, jobs?name counted apart"
    );
    for (method, path, body) in &routes {
        for creds in [
            None,
            Some((USER, "wrong")),
            Some(("admin", PASS)),
            Some(("", "")),
        ] {
            let mut q = r.req(method, path);
            if let Some((u, p)) = creds {
                q = q.basic_auth(u, Some(p));
            }
            if let Some(b) = body {
                q = q.json(b);
            }
            let resp = q.send().await.unwrap();
            assert_eq!(resp.status(), 401, "{method} {path} {creds:?}");
            let www = resp.headers().get("www-authenticate").cloned();
            let v: Value = resp.json().await.unwrap();
            let want = match creds {
                Some((u, p)) if !u.is_empty() && !p.is_empty() => "Username Authentication failed",
                _ => "Authorization header not found",
            };
            assert_eq!(v, json!(want), "{method} {path} {creds:?}");
            assert!(www.is_some());
        }
    }
    // A Bearer token, or Basic that is not base64, is no credential either.
    let resp = r
        .req("GET", "/agent/status")
        .header("authorization", "Basic !!!")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // rusty_agent's fallback stays open: a text 404.
    let resp = r.req("GET", "/nope").send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.text().await.unwrap(), "NOT FOUND");
    // Nothing ran: no exec attempt reached the audit log.
    assert!(r.audit().is_empty(), "{:?}", r.audit());
    // The agent still serves, and the password never shows in its log.
    let (st, v) = r.call("GET", "/agent/status", None).await;
    assert_eq!((st, v), (200, json!("Running")));
    assert!(!r.agent.log_text().contains(PASS));
}

fn assert_keys(v: &Value, keys: &[(&str, &str)]) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"));
    assert_eq!(
        obj.len(),
        keys.len(),
        "keys {:?}",
        obj.keys().collect::<Vec<_>>()
    );
    for (k, ty) in keys {
        let x = &obj[*k];
        let ok = match *ty {
            "s" => x.is_string(),
            "u" => x.is_u64(),
            "f" => x.is_f64() || x.is_u64(),
            "b" => x.is_boolean(),
            "a" => x.is_array(),
            "o" => x.is_object(),
            _ => unreachable!(),
        };
        assert!(ok, "{k} is not {ty}: {x}");
    }
}

const AGENT_CONFIG: &[(&str, &str)] = &[
    ("cron_agent_checksum", "s"),
    ("opensearch_prod_domain_endpoint", "s"),
    ("cron_agent_config_monitoring", "s"),
    ("agent_id", "u"),
    ("script_execution_allowed_path", "s"),
    ("cron_agent_autoupgrade_check", "s"),
    ("cron_agent_discovery", "s"),
    ("logging_file_name", "s"),
    ("cron_agent_health_discovery", "s"),
    ("checksum_downloadbatch_slot_max_download", "u"),
    ("checksum_downloadbatch_slot_minute", "u"),
    ("opensearch_non_prod_domain_endpoint", "s"),
    ("opensearch_non_prod_user_name", "s"),
    ("opensearch_non_prod_pass_word", "s"),
    ("version", "s"),
    ("auto_upgrade", "b"),
    ("port", "u"),
    ("install_dir", "s"),
    ("rust_install_path", "s"),
];

/// Each route with its published shapes: bare strings, numbers and objects where
/// rusty_agent had them, the `{success,message}` envelope elsewhere, its status codes.
#[tokio::test]
async fn issue13_rusty_routes_answer_with_rustys_shapes_and_codes() {
    let mut r = Rusty::start(false);
    let port = r.base.rsplit(':').next().unwrap().parse::<u64>().unwrap();

    assert_eq!(
        r.call("GET", "/agent/status", None).await,
        (200, json!("Running"))
    );
    assert_eq!(
        r.call("GET", "/agent/pid", None).await,
        (200, json!(r.agent.pid()))
    );
    let (st, hb) = r
        .call("POST", "/agent/heartbeat", Some(json!({"id": "a-1"})))
        .await;
    assert_eq!((st, hb), (200, json!({"success": true, "message": "a-1"})));

    let (st, v) = r.call("GET", "/agent/version", None).await;
    assert_eq!(st, 200);
    assert_keys(
        &v,
        &[
            ("version", "s"),
            ("version_valid", "b"),
            ("build_date", "s"),
        ],
    );
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        r.call("GET", "/agent/version/list", None).await,
        (200, json!([]))
    );

    let (st, m) = r.call("GET", "/agent/metric", None).await;
    assert_eq!(st, 200, "{m}");
    assert_keys(
        &m,
        &[
            ("memory", "f"),
            ("cpu_usage", "f"),
            ("rust_version", "s"),
            ("os_name", "s"),
            ("kernel_version", "s"),
            ("os_version", "s"),
            ("disk_usage", "f"),
            ("up_time", "u"),
            ("port", "u"),
            ("jobs", "a"),
        ],
    );
    // Honest figures: the agent's RSS in MiB (a few, not zero), a percentage of disk.
    let mem = m["memory"].as_f64().unwrap();
    assert!(mem > 0.5 && mem < 500.0, "{m}");
    let disk = m["disk_usage"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&disk), "{m}");
    assert_eq!(m["port"], port);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(m["kernel_version"], kernel.trim());

    let (st, info) = r.call("GET", "/agent/info", None).await;
    assert_eq!(st, 200, "{info}");
    assert_keys(
        &info,
        &[
            ("agent_details", "o"),
            ("agent_config", "o"),
            ("agent_local_config", "o"),
            ("jobs", "a"),
        ],
    );
    assert_keys(
        &info["agent_details"],
        &[
            ("version", "s"),
            ("vm_hostname", "s"),
            ("vm_ip", "s"),
            ("install_dir", "s"),
            ("rust_version", "s"),
            ("os_version", "s"),
            ("port", "u"),
            ("pid", "u"),
            ("up_time", "u"),
            ("memory", "f"),
            ("cpu_usage", "f"),
            ("disk_usage", "f"),
        ],
    );
    assert_eq!(info["agent_details"]["pid"], json!(r.agent.pid()));
    assert_keys(&info["agent_config"], AGENT_CONFIG);
    assert_eq!(info["agent_local_config"]["port"], port);

    // The config: 19 keys, the OpenSearch password redacted, never in clear.
    let (st, c) = r.call("GET", "/agent/config", None).await;
    assert_eq!(st, 200);
    assert_keys(&c, AGENT_CONFIG);
    assert_eq!(c["opensearch_non_prod_pass_word"], "REDACTED");
    assert_eq!(c["opensearch_non_prod_user_name"], "osuser");
    assert_eq!(c["auto_upgrade"], false);
    assert!(!c.to_string().contains("os-password-never-shown"));
    assert!(!info.to_string().contains("os-password-never-shown"));

    // auto_upgrade: kept and shown (as rusty_agent, nothing acts on it).
    let (st, v) = r
        .call(
            "PUT",
            "/agent/config/auto_upgrade",
            Some(json!({"command": true})),
        )
        .await;
    assert_eq!(
        (st, v),
        (
            200,
            json!({"success": true, "message": "Record updated successfully"})
        )
    );
    assert_eq!(
        r.call("GET", "/agent/config", None).await.1["auto_upgrade"],
        true
    );
    let (st, v) = r
        .call(
            "PUT",
            "/agent/config",
            Some(json!([{"propertyName": "auto_upgrade", "propertyValue": "false"}])),
        )
        .await;
    assert_eq!(
        (st, v),
        (
            200,
            json!({"success": true, "message": "Property updated successfully"})
        )
    );
    assert_eq!(
        r.call("GET", "/agent/config", None).await.1["auto_upgrade"],
        false
    );
    // An unknown property: rusty_agent's missing-record envelope.
    let (st, v) = r
        .call(
            "PUT",
            "/agent/config",
            Some(json!([{"propertyName": "no_such", "propertyValue": "1"}])),
        )
        .await;
    assert_eq!(
        (st, v),
        (
            500,
            json!({"success": false, "message": "Unable to update property no_such. Record not present"})
        )
    );

    // Refused outright, with a clear message.
    let (st, v) = r
        .call(
            "PUT",
            "/agent/userpassword/update",
            Some(json!({"name": "Admin", "pass": "x"})),
        )
        .await;
    assert_eq!(st, 501);
    assert_eq!(v["success"], false);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("compat.rusty.password_hash"),
        "{v}"
    );
    let (st, v) = r
        .call(
            "PUT",
            "/agent/version",
            Some(json!({"file_name_version": "../../x"})),
        )
        .await;
    assert_eq!(st, 501);
    assert!(v.as_str().unwrap().contains("signed"), "{v}");

    // Commands: allowlisted words run; the reply is rusty_agent's envelope.
    let (st, v) = r
        .call(
            "POST",
            "/agent/command/execute",
            Some(json!({"command": b64("hello abc")})),
        )
        .await;
    assert_eq!((st, v), (200, json!({"success": true, "message": "abc\n"})));
    // Words fill parameters in argv order (first, then second), whatever their names.
    let (st, v) = r
        .call(
            "POST",
            "/agent/command/execute",
            Some(json!({"command": b64("greet 3 xyz")})),
        )
        .await;
    assert_eq!(
        (st, v),
        (200, json!({"success": true, "message": "3 and xyz\n"}))
    );
    let (st, v) = r
        .call(
            "POST",
            "/agent/command/execute",
            Some(json!({"command": b64("   ")})),
        )
        .await;
    assert_eq!((st, v), (400, json!("empty command")));
    let (st, v) = r
        .call(
            "POST",
            "/agent/command/execute",
            Some(json!({"command": "%%%"})),
        )
        .await;
    assert_eq!(st, 400, "{v}");

    // job/execute: an inline script, refused while exec.allow_inline is off (audited).
    let script = |ty: u64| {
        json!({"script_name": "x", "content": "echo hi", "arguments": "", "cron_expression": "",
               "script_type": ty, "async_exec": false, "opensearch_index": "", "opensearch_enabled": false})
    };
    let (st, v) = r.call("POST", "/agent/job/execute", Some(script(1))).await;
    assert_eq!(st, 500, "{v}");
    assert_eq!(v["success"], false);
    assert!(
        v["message"].as_str().unwrap().contains("exec.allow_inline"),
        "{v}"
    );
    let (st, v) = r.call("POST", "/agent/job/execute", Some(script(7))).await;
    assert_eq!((st, v), (500, json!("The script type is invalid: 7")));
    let audit = r.audit();
    let inline = audit
        .iter()
        .find(|l| l["reason_code"] == "inline_disabled")
        .unwrap_or_else(|| panic!("no inline refusal audited: {audit:?}"));
    assert_eq!(inline["source"], "adapter");
    assert_eq!(inline["who"], "rusty_agent:Admin");

    // A property that maps onto a key: written to the config file through the lifecycle
    // (validated like `config check`), in effect after a restart.
    let (st, v) = r
        .call(
            "PUT",
            "/agent/config",
            Some(json!([{"propertyName": "opensearch_user_name", "propertyValue": "newuser"}])),
        )
        .await;
    assert_eq!(
        (st, v),
        (
            200,
            json!({"success": true, "message": "Property updated successfully"})
        )
    );
    let file = std::fs::read_to_string(r.data.parent().unwrap().join("outpost.toml")).unwrap();
    assert!(file.contains("newuser"), "{file}");
    // A value the validation refuses: nothing written, the envelope names the property.
    let (st, v) = r
        .call(
            "PUT",
            "/agent/config",
            Some(json!([{"propertyName": "opensearch_domain_endpoint", "propertyValue": "http://example.org:9200"}])),
        )
        .await;
    assert_eq!(st, 500, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Unable to update property opensearch_domain_endpoint"),
        "{v}"
    );
    assert!(
        !std::fs::read_to_string(r.data.parent().unwrap().join("outpost.toml"))
            .unwrap()
            .contains("example.org")
    );

    // Restart: a graceful re-exec (same PID); the adapter serves again, with the change.
    assert_eq!(
        r.call("PUT", "/agent/restart", None).await,
        (200, json!("Agent Restarted"))
    );
    wait_until(
        "the adapter back after the restart",
        Duration::from_secs(30),
        || {
            r.agent
                .log_text()
                .matches("serving rusty_agent's /agent API at")
                .count()
                >= 2
        },
    );
    r.rebase();
    let (st, c) = r.call("GET", "/agent/config", None).await;
    assert_eq!(st, 200);
    assert_eq!(c["opensearch_non_prod_user_name"], "newuser");
    assert_eq!(
        r.call("GET", "/agent/pid", None).await.1,
        json!(r.agent.pid())
    );

    // Shutdown: the reply, then the graceful stop, exit 0.
    assert_eq!(
        r.call("PUT", "/agent/shutdown", None).await,
        (200, json!("Agent Shutdown initiated"))
    );
    let st = r.agent.wait_exit(Duration::from_secs(20));
    assert!(st.success(), "{st:?}\n{}", r.agent.log_text());
}

/// rusty_agent's axum defaults, kept: no JSON content type 415, broken JSON 400, a missing
/// or mistyped field 422. Never a panic: the agent answers after each.
#[tokio::test]
async fn issue13_rusty_bad_json_and_content_types_get_rustys_status_codes() {
    let r = Rusty::start(false);
    let send = |path: &'static str, ct: Option<&'static str>, body: &'static str| {
        let mut q = r.req("POST", path).basic_auth(USER, Some(PASS)).body(body);
        if let Some(ct) = ct {
            q = q.header("content-type", ct);
        }
        async move { q.send().await.unwrap().status().as_u16() }
    };
    let json = Some("application/json");
    for path in [
        "/agent/heartbeat",
        "/agent/command/execute",
        "/agent/job/execute",
    ] {
        assert_eq!(send(path, None, "{}").await, 415, "{path}");
        assert_eq!(send(path, Some("text/plain"), "{}").await, 415, "{path}");
        assert_eq!(send(path, json, "{").await, 400, "{path}");
        assert_eq!(send(path, json, "\u{0}\u{1}").await, 400, "{path}");
        assert_eq!(send(path, json, "{}").await, 422, "{path}");
        assert_eq!(send(path, json, "[1,2]").await, 422, "{path}");
    }
    assert_eq!(send("/agent/heartbeat", json, r#"{"id": 5}"#).await, 422);
    assert_eq!(
        send("/agent/job/execute", json, r#"{"script_name":"a","content":"","arguments":"","cron_expression":"","script_type":-1,"async_exec":false,"opensearch_index":"","opensearch_enabled":false}"#).await,
        422
    );
    let resp = r
        .req("PUT", "/agent/config")
        .basic_auth(USER, Some(PASS))
        .header("content-type", "application/json")
        .body(r#"[{"propertyName": "x"}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    assert_eq!(
        r.call("GET", "/agent/status", None).await,
        (200, json!("Running"))
    );
}

/// The config: the adapter on without a password hash is a usage error naming the key
/// (there is no default password), a malformed hash too; argon2id hashes work.
#[tokio::test]
async fn issue13_rusty_needs_a_password_hash_and_takes_bcrypt_or_argon2id() {
    let dir = tempfile::tempdir().unwrap();
    for (body, want) in [
        (
            "[compat.rusty]\nlisten = \"127.0.0.1:0\"\n",
            "compat.rusty.password_hash",
        ),
        (
            "[compat.rusty]\nlisten = \"127.0.0.1:0\"\npassword_hash = \"Pass\"\n",
            "compat.rusty.password_hash",
        ),
        (
            "[compat.rusty]\nlisten = \"127.0.0.1:0\"\npassword_hash = \"$2b$10$abc\"\n",
            "compat.rusty.password_hash",
        ),
    ] {
        let cfg = dir.path().join("bad.toml");
        std::fs::write(&cfg, body).unwrap();
        let out = std::process::Command::new(common::BIN)
            .args(["run", "--data-dir"])
            .arg(dir.path().join("d"))
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{body}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{err}");
        assert!(
            !err.contains("$2b$10$abc"),
            "the hash is never echoed: {err}"
        );
    }
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    let hash = argon2::Argon2::default()
        .hash_password(PASS.as_bytes(), &salt)
        .unwrap()
        .to_string();
    assert!(hash.starts_with("$argon2id$"));
    let r = Rusty::start_with_hash(false, &hash);
    assert_eq!(
        r.call("GET", "/agent/status", None).await,
        (200, json!("Running"))
    );
    let resp = r
        .req("GET", "/agent/status")
        .basic_auth(USER, Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

/// Plain HTTP only as an explicit opt-in, logged at warn; Basic auth still on every route.
#[tokio::test]
async fn issue13_rusty_plaintext_is_an_opt_in_logged_at_warn() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("outpost.toml");
    std::fs::write(
        &cfg,
        format!(
            "[compat.rusty]\nlisten = \"127.0.0.1:0\"\ninsecure_plaintext = true\npassword_hash = \"{}\"\n",
            bcrypt_hash()
        ),
    )
    .unwrap();
    let a = Agent::start(
        Options::new(&dir.path().join("d"))
            .arg("--config")
            .arg(cfg.to_str().unwrap()),
    );
    const AT: &str = "serving rusty_agent's /agent API at http://";
    wait_until("the plaintext adapter", Duration::from_secs(20), || {
        a.log_text().contains(AT)
    });
    let log = a.log_text();
    let line = log.lines().find(|l| l.contains(AT)).unwrap();
    assert!(
        line.contains("WARN") && line.contains("PLAIN TEXT"),
        "{line}"
    );
    let addr: String = line
        .split(AT)
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/agent/status");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let resp = http
        .get(&url)
        .basic_auth(USER, Some(PASS))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!("Running"));
}
