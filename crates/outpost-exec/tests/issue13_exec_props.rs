//! Issue 13: any string, as any parameter type, either is refused or becomes exactly one
//! argv element equal to the value sent (a path: the value, absolute or under the root):
//! never split, expanded or spliced, and never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use outpost_exec::Request;
use proptest::prelude::*;

const EXTRA: &str = r#"
[p_string]
argv = ["/bin/echo", "before", "{v}", "after"]
params.v = { type = "string", pattern = "(?s).*", max_len = 4096, allow_leading_dash = true }

[p_strict]
argv = ["/bin/echo", "{v}"]
params.v = { type = "string", pattern = "[a-z0-9.;$ -]{0,20}" }

[p_integer]
argv = ["/bin/echo", "{v}"]
params.v = { type = "integer", min = -1000000, max = 1000000 }

[p_enum]
argv = ["/bin/echo", "{v}"]
params.v = { type = "enum", values = ["a", "b c", "$(x)", ";", "-n"] }

[p_path]
argv = ["/bin/echo", "{v}"]
params.v = { type = "path", root = "@ROOT@", must_exist = false }
"#;

fn values() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9 ;|&$()`\\n><*?~'\"./-]{0,24}",
        "-?[0-9]{1,8}",
        Just("b c".to_owned()),
        Just("$(x)".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn issue13_plans_never_split_or_expand_a_value(value in values()) {
        let f = FIXTURE.with(|f| f.clone());
        let exec = &f.0;
        let root = &f.1;
        for (cmd, index, len) in [("p_string", 2, 4), ("p_strict", 1, 2), ("p_integer", 1, 2), ("p_enum", 1, 2), ("p_path", 1, 2)] {
            let req = Request::command(cmd).param("v", value.clone());
            if let Ok(plan) = exec.plan(&req) {
                prop_assert_eq!(plan.argv.len(), len, "{}: the template's length", cmd);
                let element = &plan.argv[index];
                if cmd == "p_path" {
                    let expected = if value.starts_with('/') { value.clone() } else { format!("{root}/{value}") };
                    prop_assert_eq!(element, &expected);
                    prop_assert!(element.starts_with(root.as_str()));
                } else {
                    prop_assert_eq!(element, &value, "{}", cmd);
                }
            }
        }
        // The same value as a JSON integer, where it is one.
        if let Ok(n) = value.parse::<i64>() {
            if let Ok(plan) = exec.plan(&Request::command("p_integer").param("v", n)) {
                prop_assert_eq!(&plan.argv[1], &n.to_string());
            }
        }
    }
}

thread_local! {
    static FIXTURE: std::rc::Rc<(outpost_exec::Exec, String, tempfile::TempDir)> = {
        let f = common::fixture_with(EXTRA, |_| {});
        let root = f.root.display().to_string();
        std::rc::Rc::new((f.exec, root, f.dir))
    };
}
