//! The manifest parser: any accepted manifest writes back as JSON that parses to the same
//! manifest, any bytes are an answer (never a panic), and each kind of bad field is named.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_update::{Manifest, RotationStatement, Target};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9_.-]{0,20}"
}

fn version() -> impl Strategy<Value = semver::Version> {
    (
        0u64..100,
        0u64..100,
        0u64..100,
        proptest::option::of("[a-z]{1,6}(\\.[1-9][0-9]{0,2})?"),
    )
        .prop_map(|(a, b, c, pre)| {
            let mut v = semver::Version::new(a, b, c);
            if let Some(p) = pre {
                v.pre = semver::Prerelease::new(&p).unwrap();
            }
            v
        })
}

fn target() -> impl Strategy<Value = Target> {
    (
        version(),
        "[a-z0-9./_-]{1,60}",
        1u64..=(512 << 20),
        any::<[u8; 32]>(),
        version(),
    )
        .prop_map(|(version, path, size, sha256, min_version)| Target {
            version,
            url: format!("https://releases.example.net/{path}"),
            size,
            sha256,
            min_version,
        })
}

fn manifest() -> impl Strategy<Value = Manifest> {
    (
        name(),
        any::<u64>(),
        any::<u64>(),
        proptest::collection::btree_map(name(), target(), 1..5),
    )
        .prop_map(|(channel, version, expires, targets)| Manifest {
            channel,
            version,
            expires,
            targets,
        })
}

proptest! {
    #[test]
    fn issue16_manifest_round_trips(m in manifest()) {
        let json = m.to_json();
        prop_assert_eq!(Manifest::parse(json.as_bytes()).unwrap(), m);
    }

    #[test]
    fn issue16_manifest_parser_never_panics_on_any_bytes(b in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Manifest::parse(&b);
        let _ = RotationStatement::parse(&b);
    }

    #[test]
    fn issue16_manifest_parser_never_panics_on_mangled_manifests(m in manifest(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut json = m.to_json().into_bytes();
        let i = at.index(json.len());
        json[i] = byte;
        let _ = Manifest::parse(&json);
        json.truncate(i);
        let _ = Manifest::parse(&json);
    }
}

fn good() -> serde_json::Value {
    serde_json::json!({
        "channel": "stable",
        "version": 3,
        "expires": 1_900_000_000u64,
        "targets": {"x86_64-linux-gnu": {
            "version": "0.2.0",
            "url": "https://releases.example.net/outpost",
            "size": 100,
            "sha256": "00".repeat(32),
            "min_version": "0.1.0"
        }}
    })
}

fn error_of(v: &serde_json::Value) -> String {
    Manifest::parse(v.to_string().as_bytes())
        .unwrap_err()
        .to_string()
}

#[test]
fn issue16_manifest_errors_name_the_field() {
    assert!(Manifest::parse(good().to_string().as_bytes()).is_ok());
    let t = "/targets/x86_64-linux-gnu";
    let cases: Vec<(String, serde_json::Value, &str)> = vec![
        ("/extra".into(), serde_json::json!(1), "extra"),
        (
            format!("{t}/sha256"),
            serde_json::json!("abc"),
            "targets.x86_64-linux-gnu.sha256",
        ),
        (
            format!("{t}/url"),
            serde_json::json!("http://x/y"),
            "targets.x86_64-linux-gnu.url",
        ),
        (
            format!("{t}/size"),
            serde_json::json!(0),
            "targets.x86_64-linux-gnu.size",
        ),
        (
            format!("{t}/version"),
            serde_json::json!("1.0"),
            "targets.x86_64-linux-gnu.version",
        ),
        (
            format!("{t}/min_version"),
            serde_json::json!(7),
            "targets.x86_64-linux-gnu.min_version",
        ),
        ("/version".into(), serde_json::json!(-1), "version"),
        ("/expires".into(), serde_json::json!("tomorrow"), "expires"),
        ("/channel".into(), serde_json::json!("Stable!"), "channel"),
    ];
    for (pointer, value, field) in cases {
        let mut v = good();
        if pointer == "/extra" {
            v["extra"] = value;
        } else {
            *v.pointer_mut(&pointer).unwrap() = value;
        }
        let e = error_of(&v);
        assert!(e.contains(field), "{pointer}: {e}");
    }
    let mut v = good();
    v["targets"] = serde_json::json!({});
    assert!(error_of(&v).starts_with("targets:"), "{}", error_of(&v));
    let big = vec![b' '; outpost_update::manifest::MAX_MANIFEST_BYTES + 1];
    assert!(Manifest::parse(&big)
        .unwrap_err()
        .to_string()
        .contains("larger than"));
}
