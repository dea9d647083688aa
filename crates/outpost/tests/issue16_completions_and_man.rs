//! Issue 16 §5: shell completions and man pages are generated from the clap definitions
//! (`outpost generate`), so a package's copies cover every subcommand and flag the binary
//! takes. The subcommands are walked from `Cli::command()`, never listed by hand.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{fs, path::Path, process::Command};

use clap::CommandFactory;
use common::BIN;

/// `outpost ARGS...`: exit code, stdout, stderr.
fn outpost(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every visible command at every depth, as its path of names (`["config", "check"]`), the
/// top command as `[]`; clap's own `help` and hidden commands (`generate`) are left out.
fn visible_commands() -> Vec<(Vec<String>, clap::Command)> {
    fn walk(path: Vec<String>, cmd: &clap::Command, out: &mut Vec<(Vec<String>, clap::Command)>) {
        out.push((path.clone(), cmd.clone()));
        for sub in cmd.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            walk(p, sub, out);
        }
    }
    let mut cmd = outpost::cli::Cli::command();
    cmd.build();
    let mut out = Vec::new();
    walk(Vec::new(), &cmd, &mut out);
    out
}

/// The long flags a command takes itself (`--data-dir`), without clap's help and version.
fn long_flags(cmd: &clap::Command) -> Vec<String> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "help" && *l != "version")
        .map(|l| format!("--{l}"))
        .collect()
}

fn generate(dir: &Path) {
    let comp = dir.join("completions");
    let man = dir.join("man");
    let (code, out, err) = outpost(&["generate", "completions", "--out", comp.to_str().unwrap()]);
    assert_eq!(code, 0, "generate completions: {out}{err}");
    // It prints what it wrote, one path a line.
    for f in ["outpost.bash", "_outpost", "outpost.fish"] {
        assert!(
            out.lines().any(|l| l.ends_with(f)),
            "{f} not reported: {out}"
        );
    }
    let (code, out, err) = outpost(&["generate", "man", "--out", man.to_str().unwrap()]);
    assert_eq!(code, 0, "generate man: {out}{err}");
    assert!(out.lines().any(|l| l.ends_with("outpost.1")), "{out}");
}

#[test]
fn issue16_completions_cover_every_subcommand_and_flag() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let comp = dir.path().join("completions");
    let bash = fs::read_to_string(comp.join("outpost.bash")).unwrap();
    let zsh = fs::read_to_string(comp.join("_outpost")).unwrap();
    let fish = fs::read_to_string(comp.join("outpost.fish")).unwrap();
    assert!(
        bash.contains("complete -F _outpost"),
        "not a bash completion"
    );
    assert!(zsh.starts_with("#compdef outpost"), "not a zsh completion");
    assert!(
        fish.contains("complete -c outpost"),
        "not a fish completion"
    );

    let commands = visible_commands();
    let top: Vec<&str> = commands
        .iter()
        .filter(|(p, _)| p.len() == 1)
        .map(|(p, _)| p[0].as_str())
        .collect();
    // The walk found the real tree (a broken walk must not pass vacuously).
    for known in ["run", "config", "snmp", "version"] {
        assert!(top.contains(&known), "walk missed {known}: {top:?}");
    }
    for (path, cmd) in &commands {
        if path.is_empty() {
            continue;
        }
        // clap_complete's bash script has a case arm per command path:
        // `outpost__subcmd__config__subcmd__check)`.
        let arm = format!(
            "outpost__subcmd__{})",
            path.join("__subcmd__").replace('-', "__")
        );
        assert!(
            bash.contains(&arm),
            "bash completion lacks `{}` ({arm})",
            path.join(" ")
        );
        let name = path.last().unwrap();
        assert!(
            zsh.contains(&format!("'{name}:")) || zsh.contains(&format!("({name})")),
            "zsh completion lacks `{}`",
            path.join(" ")
        );
        assert!(
            fish.contains(&format!("-a \"{name}\"")),
            "fish completion lacks `{}`",
            path.join(" ")
        );
        for flag in long_flags(cmd) {
            assert!(
                bash.contains(&flag),
                "bash completion lacks `{} {flag}`",
                path.join(" ")
            );
        }
    }
}

#[test]
fn issue16_man_pages_exist_for_every_subcommand_with_their_flags() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let man = dir.path().join("man");
    let commands = visible_commands();
    let mut expected = Vec::new();
    for (path, cmd) in &commands {
        let name = std::iter::once("outpost".to_string())
            .chain(path.iter().cloned())
            .collect::<Vec<_>>()
            .join("-");
        let file = man.join(format!("{name}.1"));
        let page = fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("no man page {}: {e}", file.display()));
        // The roff header: `.TH name 1 DATE "outpost VERSION" "Outpost Manual"`.
        let th = page
            .lines()
            .find(|l| l.starts_with(".TH "))
            .unwrap_or_else(|| panic!("{name}.1 has no .TH header"));
        assert!(
            th.starts_with(&format!(".TH {name} 1 ")),
            "{name}.1 header: {th}"
        );
        assert!(
            th.contains(env!("CARGO_PKG_VERSION")),
            "{name}.1 header lacks the version: {th}"
        );
        assert!(page.contains(".SH NAME"), "{name}.1 has no NAME section");
        // Every flag the command takes, in roff's escaped form (`\-\-data\-dir`).
        for flag in long_flags(cmd) {
            let roff = flag.replace('-', "\\-");
            assert!(page.contains(&roff), "{name}.1 lacks {flag}");
        }
        expected.push(format!("{name}.1"));
    }
    // Nothing else: no page for hidden commands or clap's help.
    let mut written: Vec<String> = fs::read_dir(&man)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    expected.sort();
    assert_eq!(written, expected);
    assert!(expected.contains(&"outpost-config-check.1".to_string()));

    // mandoc (Debian's, from scripts/deps/80-packaging.sh) reads every page without an
    // error or a warning (a header without a date was one), except one cosmetic warning
    // about clap_mangen's own markup: a `.br` next to a `.sp` in lists of possible values,
    // which renders the same either way.
    let out = Command::new("mandoc")
        .args(["-T", "lint", "-W", "warning"])
        .args(expected.iter().map(|f| man.join(f)))
        .output()
        .unwrap_or_else(|e| panic!("mandoc (scripts/deps/80-packaging.sh): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let findings: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("skipping paragraph macro: br"))
        .collect();
    assert!(
        findings.is_empty(),
        "mandoc -T lint:\n{}",
        findings.join("\n")
    );
}

#[test]
fn issue16_generate_rejects_bad_input_with_usage_errors() {
    // An unknown shell is a usage error (exit 2) naming the accepted ones.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let (code, _, err) = outpost(&["generate", "completions", "--shell", "tcsh", "--out", out]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bash") && err.contains("fish"), "{err}");
    // A directory that cannot be made is a runtime failure (exit 1) naming it, not a panic.
    let file = dir.path().join("a-file");
    fs::write(&file, b"x").unwrap();
    let target = file.join("man");
    let (code, _, err) = outpost(&["generate", "man", "--out", target.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("a-file"), "{err}");
}
