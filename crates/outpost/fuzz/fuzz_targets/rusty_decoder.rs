//! The rusty_agent adapter's and the OpenSearch sink's decoders of network bytes, as the
//! handlers run them after axum's JSON decoding:
//! - mode 0: a `ScriptRequest` (`POST`/`PUT /agent/job`, `/agent/job/execute`), its content
//!   base64-decoded and its cron expression translated as the job routes do;
//! - mode 1: a `PUT /agent/config` body, each property mapped onto Outpost's keys;
//! - mode 2: a `/agent/command/execute` body: base64, then the command line mapped onto an
//!   allowlist (never a shell);
//! - mode 3: an OpenSearch `_bulk` reply, judged against the batch size.
//!
//! None may panic; the command line mapping must never yield a command request from text
//! with a shell metacharacter.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use outpost::adapters::rusty::{
    property,
    wire::{CommandRequest, PropertyChange, ScriptRequest},
    words::{self, Mapped, ParamOrder},
};
use outpost::sinks::opensearch::doc;

fn order() -> &'static ParamOrder {
    static O: std::sync::OnceLock<ParamOrder> = std::sync::OnceLock::new();
    O.get_or_init(|| {
        let t: toml::Value = toml::from_str(
            r#"
[hello]
argv = ["/bin/echo", "{word}", "{n}"]
params.word = { type = "string", pattern = "[a-z]+" }
params.n = { type = "integer", min = 1, max = 9 }
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
    let b64 = base64::engine::general_purpose::STANDARD;
    match mode % 4 {
        0 => {
            if let Ok(s) = serde_json::from_slice::<ScriptRequest>(body) {
                let _ = b64.decode(s.content.trim());
                let _ = outpost::adapters::rusty::cron::from_rusty(&s.cron_expression);
                let again: ScriptRequest =
                    serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
                assert_eq!(again, s);
            }
        }
        1 => {
            if let Ok(v) = serde_json::from_slice::<Vec<PropertyChange>>(body) {
                let listen = "127.0.0.1:20140".parse().unwrap();
                for c in &v {
                    let _ = property(&c.property_name, &c.property_value, listen);
                }
            }
        }
        2 => {
            if let Ok(c) = serde_json::from_slice::<CommandRequest>(body) {
                if let Ok(text) = b64.decode(c.command.trim()).map(String::from_utf8) {
                    if let Ok(text) = text {
                        for inline in [false, true] {
                            let m = words::map(&text, order(), inline);
                            if words::shell_meta(&text).is_some() {
                                assert!(matches!(m, Mapped::Shell { .. }), "{text:?}");
                            }
                        }
                    }
                }
            }
        }
        _ => {
            if let Ok(r) = serde_json::from_slice::<doc::BulkReply>(body) {
                for sent in [0, 1, r.items.len()] {
                    let _ = doc::verdict(&r, sent);
                }
            }
        }
    }
});
