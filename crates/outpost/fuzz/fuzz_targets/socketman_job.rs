//! The SocketMan adapter's decoders of bytes from outside:
//! - mode 0: a job as it arrives on `sub/…` (MQTT), then its `meta.msg` mapped onto the
//!   allowlist as the adapter submits it, with and without `allow_shell`;
//! - mode 1: a `boot_url` reply body (HTTP);
//! - mode 2: a `config.json` (written by the provisioning server), the MAC file read from the
//!   same bytes.
//!
//! None may panic; text with a shell metacharacter must never become an allowlisted
//! command while `allow_shell` is off, and a reply's id is never longer than SocketMan's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost::adapters::socketman::words::{self, ParamOrder};
use outpost::adapters::socketman::{boot, config, jobs, wire};

fn order() -> &'static ParamOrder {
    static O: std::sync::OnceLock<ParamOrder> = std::sync::OnceLock::new();
    O.get_or_init(|| {
        let t: toml::Value = toml::from_str(
            r#"
[uptime]
argv = ["/usr/bin/uptime"]
[hello]
argv = ["/bin/echo", "{word}"]
params.word = { type = "string", pattern = "[a-z]+" }
"#,
        )
        .unwrap();
        ParamOrder::of(&serde::Deserialize::deserialize(t).unwrap())
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, body)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(job) = wire::parse_job(body) {
                assert!(job.id.chars().count() <= wire::MAX_ID + 3 + 32);
                let _ = wire::delivered(&job.id, 1, Some("x"));
                for allow_shell in [false, true] {
                    let r = jobs::request(job.msg.as_deref(), order(), allow_shell);
                    if let (Some(text), Ok(req), false) = (&job.msg, &r, allow_shell) {
                        if words::shell_meta(text).is_some() {
                            // Submitted as a name exec refuses, never as a script.
                            assert!(req.inline.is_none() && req.script.is_none(), "{text:?}");
                            assert_eq!(req.command.as_deref(), Some(text.as_str()));
                        }
                    }
                }
            }
        }
        1 => {
            let _ = boot::reply_cmd(body);
        }
        _ => {
            let mac = String::from_utf8_lossy(body).into_owned();
            let _ = config::parse(std::path::Path::new("/etc/config.json"), body, &|_| {
                Ok(mac.clone())
            });
        }
    }
});
