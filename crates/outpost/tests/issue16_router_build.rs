//! Issue 16 §5, small builds: the crate's optional features are listed by the binary
//! (`outpost version --verbose`), and the default build has every one of them. The router
//! build itself (`--no-default-features`, profile release-small) is not built here: that
//! takes minutes, and its size is a benchmark (bench/RESULTS.md); `scripts/test` lints it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{collections::BTreeSet, process::Command};

use common::BIN;

/// The `[features]` table of crates/outpost/Cargo.toml: each feature and what it enables.
fn manifest_features() -> toml::Table {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let manifest: toml::Table = text.parse().unwrap();
    manifest["features"].as_table().unwrap().clone()
}

fn outpost(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "outpost {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn issue16_version_verbose_lists_every_default_feature() {
    let features = manifest_features();
    let default: BTreeSet<String> = features["default"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    let v: serde_json::Value =
        serde_json::from_str(&outpost(&["version", "--verbose", "--json"])).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let listed: BTreeSet<String> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    // The suite runs on the default build: all of them, and no more (release-tool is not a
    // default feature).
    assert_eq!(listed, default);

    // The text form lists the same, on one line.
    let text = outpost(&["version", "--verbose"]);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("features: "))
        .unwrap();
    let words: BTreeSet<String> = line.split(' ').map(str::to_owned).collect();
    assert_eq!(words, default);

    // Without --verbose, the output is what it always was.
    let plain: serde_json::Value = serde_json::from_str(&outpost(&["version", "--json"])).unwrap();
    assert!(plain.get("features").is_none(), "{plain}");
}

/// A feature added to Cargo.toml but not to `version::FEATURES` would be invisible to
/// operators; one listed there but gone from Cargo.toml would never be on.
#[test]
fn issue16_every_cargo_feature_is_reported() {
    let declared: BTreeSet<String> = manifest_features()
        .keys()
        .filter(|k| *k != "default")
        .cloned()
        .collect();
    let reported: BTreeSet<String> = outpost::version::FEATURES
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    assert_eq!(declared, reported);
}
