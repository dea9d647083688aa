//! Issue 12: every test that ARCHITECTURE.md or a code comment names as a guard exists. A
//! renamed or deleted test otherwise leaves an invariant "guarded" by nothing, and nobody
//! notices (api/mod.rs once cited `openapi_document_lists_exactly_the_served_routes`, which
//! did not exist).
//!
//! A test name is recognised as `issueN_words` or `module::tests::name`, written in
//! backticks in the documents or anywhere in a `//` comment of a Rust file. A test file's
//! name (`issue4_filter_props` for `tests/issue4_filter_props.rs`) counts as existing, and
//! a name ending in `_` (written `issue5_mqtt5_*`) as a prefix of existing tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every Rust source of the workspace, fuzz crates and benches included, build output not.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if name == "target" || name == "venv" || name.starts_with('.') || name == "corpus" {
                continue;
            }
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The function names defined in `text`.
fn defined(text: &str, into: &mut BTreeSet<String>) {
    for part in text.split("fn ").skip(1) {
        let name: String = part.chars().take_while(|c| is_ident(*c)).collect();
        if !name.is_empty() {
            into.insert(name);
        }
    }
}

/// Test names cited in `text`: tokens `issueN_...` and the last segment of
/// `a::tests::name` paths.
fn cited(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("issue") {
        let before_ok = rest[..i].chars().next_back().is_none_or(|c| !is_ident(c));
        let token: String = rest[i..].chars().take_while(|c| is_ident(*c)).collect();
        let digits: String = token[5..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if before_ok
            && !digits.is_empty()
            && token[5 + digits.len()..].starts_with('_')
            && token.len() > 5 + digits.len() + 1
        {
            out.push(token.clone());
        }
        rest = &rest[i + token.len().max(5)..];
    }
    let mut rest = text;
    while let Some(i) = rest.find("::tests::") {
        let name: String = rest[i + 9..].chars().take_while(|c| is_ident(*c)).collect();
        if !name.is_empty() {
            out.push(name);
        }
        rest = &rest[i + 9..];
    }
    out
}

#[test]
fn issue12_every_test_named_in_architecture_and_comments_exists() {
    let root = root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("bench"), &mut files);
    let mut fns = BTreeSet::new();
    let mut comment_cites: Vec<(PathBuf, String)> = Vec::new();
    for f in &files {
        if let Some(stem) = f.file_stem() {
            fns.insert(stem.to_string_lossy().into_owned());
        }
        // This file's own doc comments show the forms it looks for.
        if f.ends_with("issue12_named_tests_exist.rs") {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        defined(&text, &mut fns);
        for line in text.lines() {
            if let Some(i) = line.find("//") {
                for name in cited(&line[i..]) {
                    comment_cites.push((f.clone(), name));
                }
            }
        }
    }
    assert!(
        fns.len() > 200,
        "found only {} functions: wrong root?",
        fns.len()
    );
    let exists = |name: &str| {
        fns.contains(name) || (name.ends_with('_') && fns.iter().any(|f| f.starts_with(name)))
    };
    let mut missing = Vec::new();
    let arch = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    // In the documents, only backticked names: prose may say "issue 5" in passing.
    for quoted in arch.split('`').skip(1).step_by(2) {
        for name in cited(quoted) {
            if !exists(&name) {
                missing.push(format!("ARCHITECTURE.md: {name}"));
            }
        }
    }
    for (file, name) in comment_cites {
        if !exists(&name) {
            let shown = file
                .strip_prefix(&root)
                .unwrap_or(&file)
                .display()
                .to_string();
            missing.push(format!("{shown}: {name}"));
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "tests named as guards that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn issue12_citation_scanner_finds_both_forms() {
    assert_eq!(
        cited("guarded by `issue2_kill9_loses_nothing` and api::tests::routes_match; issue 5"),
        vec!["issue2_kill9_loses_nothing", "routes_match"]
    );
    assert!(cited("see issue10 and issue_x and reissue3_a").is_empty());
}
