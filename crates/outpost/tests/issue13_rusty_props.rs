//! Issue 13: property tests for the rusty_agent adapter's decoders of network bytes and the
//! OpenSearch sink's encoder: ScriptRequest and config PUT bodies round-trip through their
//! wire shapes; a command line is never a command when it holds a shell metacharacter, and
//! plain words fill the declared parameters in order; every `_bulk` body pairs one action
//! line with one document line per row and ends with a newline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost::adapters::rusty::{
    wire::{PropertyChange, ScriptRequest},
    words::{self, Mapped, ParamOrder},
};
use outpost_core::{Event, OutboxItem, OutboxRow};
use proptest::prelude::*;
use serde_json::Value;

fn order() -> ParamOrder {
    let t: toml::Value = toml::from_str(
        r#"
[hello]
argv = ["/bin/echo", "{b}", "x", "{a}"]
params.a = { type = "string", pattern = "[a-z]+" }
params.b = { type = "string", pattern = "[a-z]+" }
"#,
    )
    .unwrap();
    ParamOrder::of(&serde::Deserialize::deserialize(t).unwrap())
}

fn script() -> impl Strategy<Value = ScriptRequest> {
    (
        ".*",
        ".*",
        ".*",
        ".*",
        any::<u64>(),
        any::<bool>(),
        ".*",
        any::<bool>(),
    )
        .prop_map(|(n, c, a, cr, t, x, i, e)| ScriptRequest {
            script_name: n,
            content: c,
            arguments: a,
            cron_expression: cr,
            script_type: t,
            async_exec: x,
            opensearch_index: i,
            opensearch_enabled: e,
        })
}

proptest! {
    #[test]
    fn issue13_rusty_script_requests_round_trip(s in script()) {
        let text = serde_json::to_string(&s).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(v.as_object().unwrap().len(), 8);
        let back: ScriptRequest = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn issue13_rusty_config_put_bodies_round_trip_with_camel_case_keys(
        items in proptest::collection::vec((".*", ".*"), 0..5)
    ) {
        let body: Vec<PropertyChange> = items
            .into_iter()
            .map(|(n, v)| PropertyChange { property_name: n, property_value: v })
            .collect();
        let text = serde_json::to_string(&body).unwrap();
        for item in serde_json::from_str::<Vec<Value>>(&text).unwrap() {
            prop_assert!(item.get("propertyName").is_some() && item.get("propertyValue").is_some());
        }
        let back: Vec<PropertyChange> = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, body);
    }

    #[test]
    fn issue13_rusty_command_lines_with_shell_syntax_are_never_commands(text in ".{0,64}", inline in any::<bool>()) {
        let m = words::map(&text, &order(), inline);
        if words::shell_meta(&text).is_some() {
            // A line of whitespace alone (a vertical tab, say) is nothing to run: `Empty`,
            // answered 400 "empty command"; any other is shell text.
            prop_assert!(
                matches!(m, Mapped::Shell { .. }) || (text.trim().is_empty() && m == Mapped::Empty),
                "{:?}",
                m
            );
        }
        if let Mapped::Command(r) = &m {
            // Every argument is one whole word of the line, never a piece of shell text.
            for v in r.params.values() {
                let w = v.as_str().unwrap();
                prop_assert!(!w.is_empty() && !w.contains(char::is_whitespace));
                prop_assert!(text.split_whitespace().any(|x| x == w));
            }
        }
    }

    #[test]
    fn issue13_rusty_plain_words_fill_params_in_argv_order(a in "[a-z]{1,8}", b in "[a-z]{1,8}") {
        let Mapped::Command(r) = words::map(&format!("hello {b}  {a}"), &order(), false) else {
            panic!("not a command");
        };
        prop_assert_eq!(r.command.as_deref(), Some("hello"));
        prop_assert_eq!(&r.params["b"], &Value::String(b));
        prop_assert_eq!(&r.params["a"], &Value::String(a));
    }

    #[test]
    fn issue13_rusty_bulk_bodies_pair_actions_and_documents(
        kinds in proptest::collection::vec("[a-z.]{1,12}", 1..20),
        payload in ".{0,40}",
    ) {
        let mut body = Vec::new();
        for (i, k) in kinds.iter().enumerate() {
            let ev = Event::new(k, serde_json::json!({ "text": payload, "i": i }));
            let row = OutboxRow { seq: i as u64 + 1, created_at: 0, item: OutboxItem::Event(ev) };
            outpost::sinks::opensearch::doc::push_row(&mut body, &row, "idx", "agent-1", "host\n1");
        }
        let text = String::from_utf8(body).unwrap();
        prop_assert!(text.ends_with('\n'));
        let lines: Vec<&str> = text[..text.len() - 1].split('\n').collect();
        prop_assert_eq!(lines.len(), 2 * kinds.len());
        for (i, pair) in lines.chunks(2).enumerate() {
            let action: Value = serde_json::from_str(pair[0]).unwrap();
            let doc: Value = serde_json::from_str(pair[1]).unwrap();
            prop_assert_eq!(&action["index"]["_id"], &Value::String(format!("agent-1-{}", i + 1)));
            prop_assert_eq!(&action["index"]["_index"], "idx");
            prop_assert_eq!(&doc["jobname"], &Value::String(kinds[i].clone()));
            prop_assert_eq!(&doc["seq"], &serde_json::json!(i + 1));
        }
    }
}
