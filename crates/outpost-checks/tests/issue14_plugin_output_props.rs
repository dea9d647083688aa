//! Issue 14: the Nagios plugin output and perfdata decoders, as proptest round trips: what
//! we format, we read back the same; and arbitrary text never panics.

use outpost_checks::perfdata::{self, Perfdata};
use outpost_checks::plugin::parse_output;
use proptest::prelude::*;

fn label() -> impl Strategy<Value = String> {
    // Spaces, quotes and '=' force the quoted form; '|' never appears in plugin labels (it
    // would end the output line) and ';' ends the value.
    "[a-zA-Z0-9_/ '=.:-]{1,24}"
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1_000_000i64..1_000_000).prop_map(|i| i as f64),
        (-1.0e9f64..1.0e9),
        (0.0f64..1.0),
    ]
}

fn range() -> impl Strategy<Value = String> {
    let n = || (-1000i32..1000).prop_map(|v| v.to_string());
    prop_oneof![
        n(),
        n().prop_map(|a| format!("{a}:")),
        n().prop_map(|a| format!("~:{a}")),
        (n(), n()).prop_map(|(a, b)| format!("{a}:{b}")),
        (n(), n()).prop_map(|(a, b)| format!("@{a}:{b}")),
    ]
}

fn item() -> impl Strategy<Value = Perfdata> {
    (
        label(),
        proptest::option::weighted(0.9, number()),
        prop_oneof![
            Just(""),
            Just("s"),
            Just("ms"),
            Just("us"),
            Just("%"),
            Just("B"),
            Just("KB"),
            Just("MB"),
            Just("TB"),
            Just("c")
        ],
        proptest::option::of(range()),
        proptest::option::of(range()),
        proptest::option::of(number()),
        proptest::option::of(number()),
    )
        .prop_map(|(label, value, uom, warn, crit, min, max)| Perfdata {
            label,
            // The guidelines' `U` carries no unit.
            uom: if value.is_some() {
                uom.to_string()
            } else {
                String::new()
            },
            value,
            warn,
            crit,
            min,
            max,
        })
}

proptest! {
    #[test]
    fn issue14_perfdata_round_trips(items in proptest::collection::vec(item(), 0..8)) {
        let text = perfdata::format(&items);
        let (back, errors) = perfdata::parse(&text);
        prop_assert!(errors.is_empty(), "{text:?}: {errors:?}");
        prop_assert_eq!(back, items);
    }

    #[test]
    fn issue14_plugin_output_round_trips(
        output in "[A-Za-z0-9 :%/.,()-]{0,60}",
        long in proptest::collection::vec("[A-Za-z0-9 :%/.,()-]{0,40}", 0..4),
        first_perf in proptest::collection::vec(item(), 0..3),
        more_perf in proptest::collection::vec(item(), 0..3),
    ) {
        let mut text = output.clone();
        if !first_perf.is_empty() {
            text.push_str(" | ");
            text.push_str(&perfdata::format(&first_perf));
        }
        for (i, line) in long.iter().enumerate() {
            text.push('\n');
            text.push_str(line);
            if i + 1 == long.len() && !more_perf.is_empty() {
                text.push_str(" | ");
                text.push_str(&perfdata::format(&more_perf));
            }
        }
        let parsed = parse_output(&text);
        prop_assert_eq!(parsed.output, output.trim());
        let long_kept: Vec<&str> = long.iter().map(String::as_str).collect();
        let mut expect_long = long_kept.join("\n");
        if !more_perf.is_empty() && !long.is_empty() {
            expect_long.push(' ');
        }
        let expect_long = if expect_long.trim().is_empty() { None } else { Some(expect_long) };
        // Trailing blank lines are dropped; compare on that basis.
        let got = parsed.long_output.map(|l| l.trim_end().to_string());
        prop_assert_eq!(got, expect_long.map(|l| l.trim_end().to_string()));
        let mut all = first_perf.clone();
        if !long.is_empty() {
            all.extend(more_perf.clone());
        }
        prop_assert!(parsed.perfdata_errors.is_empty(), "{:?}", parsed.perfdata_errors);
        prop_assert_eq!(parsed.perfdata, all);
    }

    #[test]
    fn issue14_plugin_output_never_panics(text in any::<String>()) {
        let parsed = parse_output(&text);
        prop_assert!(parsed.output.len() <= outpost_checks::plugin::MAX_OUTPUT);
    }
}
