//! Issue 15: a bad Compose file is refused with an error that names its line (and column)
//! and the document path of the bad value: syntax, unknown keys, wrong types, bad values,
//! dependencies (unknown, cycles), host ports, names, and the bounds (size, alias bombs,
//! nesting).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Instant;

use outpost_containers::apps::{self, ComposeError, ComposeErrorKind as K, MAX_BYTES};

fn parse(yaml: &str) -> Result<apps::AppSpec, ComposeError> {
    apps::parse(yaml.as_bytes(), "app", Path::new("/srv/app"))
}

/// The error, checked to name `line` and `path` both in its fields and in its text.
fn refused(yaml: &str, line: usize, path: &str) -> ComposeError {
    let e = parse(yaml).expect_err("must be refused");
    assert_eq!(e.pos.line, line, "line of: {e}");
    assert_eq!(e.path, path, "path of: {e}");
    let text = e.to_string();
    assert!(text.contains(&format!("line {line},")), "{text}");
    if !path.is_empty() {
        assert!(text.contains(path), "{text}");
    }
    e
}

#[test]
fn issue15_yaml_syntax_error_names_its_line() {
    let e = refused(
        "services:\n  web:\n    image: x\n    ports: [80\n  db: {}\n",
        5,
        "",
    );
    assert!(matches!(e.kind, K::Syntax(_)), "{e}");
}

#[test]
fn issue15_unknown_service_key_names_key_line_and_column() {
    let e = refused(
        "services:\n  web:\n    image: nginx\n    enviroment:\n      A: b\n",
        4,
        "services.web.enviroment",
    );
    assert_eq!(
        e.kind,
        K::UnknownKey {
            key: "enviroment".into()
        }
    );
    assert_eq!(e.pos.column, 5);
    assert!(e.to_string().contains("`enviroment`"));
}

#[test]
fn issue15_unknown_top_level_key_is_refused_x_keys_and_version_are_not() {
    let e = refused("version: '3'\nservice:\n  web: {image: x}\n", 2, "service");
    assert!(matches!(e.kind, K::UnknownKey { .. }));
    parse("version: '3'\nx-anything: {a: [1]}\nservices:\n  web: {image: x, x-note: hi}\n")
        .expect("x- keys and version are accepted");
    // Keys outside the subset are refused like typos, not dropped.
    refused(
        "services:\n  web:\n    image: x\n    build: .\n",
        4,
        "services.web.build",
    );
    refused(
        "services:\n  web:\n    image: x\nnetworks: {a: {}}\n",
        4,
        "networks",
    );
}

#[test]
fn issue15_bad_value_in_a_list_names_its_index() {
    let e = refused(
        "services:\n  web:\n    image: x\n    ports:\n      - \"8080:80\"\n      - \"80:http\"\n",
        6,
        "services.web.ports[1]",
    );
    assert!(e.to_string().contains("80:http"), "{e}");
    refused(
        "services:\n  web:\n    image: x\n    volumes:\n      - ./a:/a\n      - type: bind\n        target: /b\n",
        6,
        "services.web.volumes[1]",
    );
    refused(
        "services:\n  web:\n    image: x\n    healthcheck:\n      test: [CMD, true]\n      interval: 30\n",
        6,
        "services.web.healthcheck.interval",
    );
    refused(
        "services:\n  web:\n    image: x\n    restart: sometimes\n",
        4,
        "services.web.restart",
    );
    refused(
        "services:\n  web:\n    image: x\n    mem_limit: lots\n",
        4,
        "services.web.mem_limit",
    );
    refused(
        "services:\n  web:\n    image: x\n    environment:\n      - A=1\n      - B\n",
        6,
        "services.web.environment[1]",
    );
}

#[test]
fn issue15_wrong_types_name_what_was_expected() {
    let e = refused(
        "services:\n  web:\n    image: x\n    ports: \"80\"\n",
        4,
        "services.web.ports",
    );
    assert!(matches!(e.kind, K::WrongType { .. }), "{e}");
    refused(
        "services:\n  web:\n    image: [x]\n",
        3,
        "services.web.image",
    );
    refused("services:\n  web: nginx\n", 2, "services.web");
    refused(
        "services:\n  web:\n    image: x\n    privileged: yes\n",
        4,
        "services.web.privileged",
    );
}

#[test]
fn issue15_missing_image_and_missing_services() {
    let e = refused(
        "services:\n  web:\n    command: [sleep, '1']\n",
        3,
        "services.web",
    );
    assert_eq!(
        e.kind,
        K::Missing {
            key: "image".into()
        }
    );
    let e = refused("name: a\n", 1, "");
    assert_eq!(
        e.kind,
        K::Missing {
            key: "services".into()
        }
    );
    let e = refused("", 1, "");
    assert!(matches!(e.kind, K::Missing { .. }));
}

#[test]
fn issue15_unknown_dependency_names_the_entry() {
    let e = refused(
        "services:\n  web:\n    image: x\n    depends_on:\n      - db\n      - cache\n  db: {image: y}\n",
        6,
        "services.web.depends_on.cache",
    );
    assert_eq!(
        e.kind,
        K::UnknownDependency {
            service: "cache".into()
        }
    );
}

#[test]
fn issue15_dependency_cycle_is_named() {
    let e = refused(
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on:\n      c: {condition: service_healthy}\n  c:\n    image: x\n    depends_on: [a]\n",
        4,
        "services.a.depends_on.b",
    );
    assert_eq!(
        e.kind,
        K::Cycle {
            cycle: vec!["a".into(), "b".into(), "c".into(), "a".into()]
        }
    );
    assert!(e.to_string().contains("a -> b -> c -> a"), "{e}");
}

#[test]
fn issue15_duplicate_host_port_names_both_services() {
    let e = refused(
        "services:\n  a:\n    image: x\n    ports: [\"8080:80\"]\n  b:\n    image: x\n    ports:\n      - \"127.0.0.1:9000:90\"\n      - \"8080:81\"\n",
        9,
        "services.b.ports[1]",
    );
    assert!(e.to_string().contains("services.a.ports[0]"), "{e}");
    // Another protocol, or two distinct addresses, do not clash.
    parse("services:\n  a:\n    image: x\n    ports: [\"8080:80\", \"8080:80/udp\", \"127.0.0.1:9:9\", \"127.0.0.2:9:9\"]\n")
        .expect("no clash");
}

#[test]
fn issue15_names_duplicate_keys_and_reserved_labels() {
    refused("services:\n  web/1:\n    image: x\n", 3, "services.web/1");
    let e = refused("name: my.app\nservices: {}\n", 1, "name");
    assert!(e.to_string().contains("my.app"), "{e}");
    let e = refused("services:\n  web:\n    image: x\n    image: y\n", 4, "");
    assert_eq!(
        e.kind,
        K::DuplicateKey {
            key: "image".into(),
            first_line: 3
        }
    );
    let e = refused(
        "services:\n  web:\n    image: x\n    labels:\n      outpost.app: other\n",
        5,
        "services.web.labels.outpost.app",
    );
    assert!(matches!(e.kind, K::ReservedLabel { .. }));
}

#[test]
fn issue15_interpolation_and_tags_are_refused_not_passed_on() {
    let e = refused(
        "services:\n  web:\n    image: x\n    environment:\n      A: ${HOME}\n",
        5,
        "services.web.environment.A",
    );
    assert_eq!(e.kind, K::Interpolation);
    let e = refused("services:\n  web:\n    image: !reset x\n", 3, "");
    assert!(matches!(e.kind, K::Tag(_)));
}

#[test]
fn issue15_oversize_file_is_refused_before_parsing() {
    let mut big = String::from("services:\n  web:\n    image: x\n    environment:\n");
    while big.len() <= MAX_BYTES {
        big.push_str("      A_VERY_LONG_VARIABLE_NAME_TO_FILL_SPACE: some value here\n");
    }
    let e = apps::parse(big.as_bytes(), "a", Path::new("/")).expect_err("too large");
    assert!(matches!(e.kind, K::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("over the limit"), "{e}");
}

#[test]
fn issue15_alias_bomb_is_refused_quickly() {
    // Nine levels of ten aliases each: 10^9 nodes if expanded.
    let mut s = String::from("x-a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        let refs = vec![format!("*a{p}"); 10].join(", ");
        s.push_str(&format!("x-a{i}: &a{i} [{refs}]\n"));
    }
    s.push_str("services:\n  web:\n    image: x\n    command: *a9\n");
    let t = Instant::now();
    let e = parse(&s).expect_err("bomb refused");
    assert!(matches!(e.kind, K::ExpansionLimit { .. }), "{e}");
    // Not a timing test: a bound so loose only an actual expansion would cross it.
    assert!(t.elapsed().as_secs() < 10, "took {:?}", t.elapsed());
    // The byte budget too: one large scalar aliased many times.
    let big = "y".repeat(200_000);
    let mut s = format!("x-big: &b \"{big}\"\nx-many: [");
    s.push_str(&vec!["*b"; 100].join(", "));
    s.push_str("]\nservices: {}\n");
    let e = parse(&s).expect_err("byte bomb refused");
    assert!(
        matches!(
            e.kind,
            K::ExpansionLimit {
                what: "bytes of text",
                ..
            }
        ),
        "{e}"
    );
    // Ordinary anchor use is fine.
    parse("x-env: &env {A: '1'}\nservices:\n  a: {image: x, environment: *env}\n  b: {image: x, environment: *env}\n")
        .expect("plain aliases work");
}

#[test]
fn issue15_deep_nesting_and_non_utf8_are_refused() {
    let s = format!("services: {}{}\n", "[".repeat(100), "]".repeat(100));
    let e = parse(&s).expect_err("too deep");
    assert!(matches!(e.kind, K::TooDeep { .. } | K::Syntax(_)), "{e}");
    let e = apps::parse(
        b"services:\n  web:\n    image: \xc3\x28\n",
        "a",
        Path::new("/"),
    )
    .expect_err("not UTF-8");
    assert_eq!((e.kind, e.pos.line), (K::NotUtf8, 3));
}
