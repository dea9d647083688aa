//! A Nagios plugin's stdout is whatever the plugin (or anything it runs) printed: every
//! `check.nagios` result goes through this. The output line stays within its cap, and every
//! perfdata item read formats to text that reads back as the same item.
#![no_main]
use libfuzzer_sys::fuzz_target;
use outpost_checks::{perfdata, plugin};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let out = plugin::parse_output(&text);
    assert!(out.output.len() <= plugin::MAX_OUTPUT);
    for item in &out.perfdata {
        let again = item.to_string();
        let (back, errors) = perfdata::parse(&again);
        assert!(errors.is_empty(), "{again:?}: {errors:?}");
        assert_eq!(back.len(), 1, "{again:?}");
        assert_eq!(&back[0], item, "{again:?}");
    }
    let r = plugin::result(
        plugin::PluginExit::Exited(0),
        &text,
        "",
        std::time::Duration::ZERO,
    );
    assert!(r.output.len() <= plugin::MAX_OUTPUT);
});
