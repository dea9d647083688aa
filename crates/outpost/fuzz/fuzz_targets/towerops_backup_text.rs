//! What a MikroTik router prints over SSH, read as a config backup reads it
//! (`adapters/towerops/backup/routeros.rs`): the version line and its major number, the
//! export's verdict and model, a refusal in the device's words, PROBE's policy list, and
//! the error detail built from it. Never a panic; every kept field within its bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost::adapters::towerops::backup::routeros;

fuzz_target!(|data: &[u8]| {
    let line = routeros::one_line(data);
    assert!(line.len() <= 255);
    let _ = routeros::major(&line);
    let text = String::from_utf8_lossy(data);
    let _ = routeros::judge_export(&text);
    let _ = routeros::refusal(&text);
    assert!(routeros::model(&text).len() <= 255);
    let policies = routeros::policies(&text);
    assert!(policies.len() <= 64 && policies.iter().all(|p| !p.starts_with('!')));
    let detail = routeros::detail(&text, "pw");
    assert!(detail.len() <= routeros::MAX_DETAIL && !detail.contains("pw"));
    if let Some(q) = routeros::quoted_user(&text) {
        assert!(q.starts_with('"') && q.ends_with('"'));
    }
});
