//! Issue 13, secrets at rest: each field sealed to its row and field, a wrong key a clear
//! error, rotation that survives a crash at any step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{fs, os::unix::fs::PermissionsExt};

use outpost_secrets::{ExposeSecret, Keyring, Rotation, SecretError, KEY_FILE, NEXT_KEY_FILE};
use proptest::prelude::*;
use serde_json::{json, Value};

fn keyring_in(dir: &std::path::Path) -> Keyring {
    Keyring::load(&dir.join(KEY_FILE), true).unwrap()
}

proptest! {
    #[test]
    fn issue13_seal_then_open_round_trips(row in ".{0,40}", field in ".{0,40}", plain in "(?s).{0,300}") {
        let k = Keyring::ephemeral().unwrap();
        let sealed = k.seal(&row, &field, &plain).unwrap();
        if plain.len() >= 4 { prop_assert!(!sealed.contains(&plain)); }
        let opened = k.open_value(&row, &field, &sealed).unwrap();
        prop_assert_eq!(opened.expose_secret(), plain.as_str());
    }

    #[test]
    fn issue13_sealed_json_round_trips(community in "[a-zA-Z0-9]{4,20}", n in any::<i64>(), key in "[a-z$~/]{1,8}") {
        let k = Keyring::ephemeral().unwrap();
        let params = json!({"target": "10.0.0.1", "auth": {"community": community, key.clone(): n}, "oids": ["1.3", "1.4"]});
        let redacted = json!({"target": "10.0.0.1", "auth": {"community": "<redacted>", key.clone(): n}, "oids": ["1.3", "1.4"]});
        let sealed = k.seal_json("sched-1", &params, &redacted);
        if key == "$sealed" { prop_assert!(sealed.is_err()); return Ok(()); }
        let sealed = sealed.unwrap();
        prop_assert!(!sealed.to_string().contains(&community));
        prop_assert!(Keyring::has_sealed(&sealed));
        prop_assert_eq!(k.open_json("sched-1", &sealed).unwrap(), params);
    }

    #[test]
    fn issue13_opening_garbage_is_an_error_never_a_panic(text in "(?s).{0,200}", b in any::<Vec<u8>>()) {
        let k = Keyring::ephemeral().unwrap();
        prop_assert!(k.open_value("r", "f", &text).is_err());
        let glued = format!("$op1${}${}", k.key_id(), String::from_utf8_lossy(&b));
        prop_assert!(k.open_value("r", "f", &glued).is_err());
    }
}

#[test]
fn issue13_a_sealed_value_moved_to_another_row_or_field_does_not_open() {
    let k = Keyring::ephemeral().unwrap();
    let sealed = k.seal("schedule-a", "/community", "s3cret").unwrap();
    assert_eq!(
        k.open_value("schedule-a", "/community", &sealed)
            .unwrap()
            .expose_secret(),
        "s3cret"
    );
    for (row, field) in [("schedule-b", "/community"), ("schedule-a", "/auth_pass")] {
        let e = k.open_value(row, field, &sealed).unwrap_err();
        assert!(matches!(e, SecretError::Tampered { .. }), "{e}");
        assert!(e.to_string().contains(row), "{e}");
    }
    // One flipped character of the ciphertext.
    let mut bytes = sealed.clone().into_bytes();
    let last = bytes.len() - 3;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(bytes).unwrap();
    assert!(matches!(
        k.open_value("schedule-a", "/community", &flipped),
        Err(SecretError::Tampered { .. })
    ));
    // Sealed JSON: a leaf swapped between two rows.
    let a = k
        .seal_json("a", &json!({"c": "one"}), &json!({"c": "<redacted>"}))
        .unwrap();
    assert!(k.open_json("b", &a).is_err());
}

#[test]
fn issue13_a_wrong_key_is_a_clear_error_naming_both_keys() {
    let dir = tempfile::tempdir().unwrap();
    let right = keyring_in(dir.path());
    let sealed = right.seal("row", "/community", "s3cret").unwrap();
    let other = Keyring::ephemeral().unwrap();
    let e = other.open_value("row", "/community", &sealed).unwrap_err();
    match &e {
        SecretError::WrongKey {
            sealed_with, have, ..
        } => {
            assert_eq!(sealed_with, right.key_id());
            assert_eq!(have, other.key_id());
        }
        e => panic!("{e}"),
    }
    assert!(e.to_string().contains("not the key"), "{e}");
    assert!(!e.to_string().contains("s3cret"));
}

#[test]
fn issue13_the_key_file_is_created_private_and_reloaded_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(KEY_FILE);
    let k1 = Keyring::load(&path, true).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.trim().len(), 64, "64 hex digits");
    let k2 = Keyring::load(&path, true).unwrap();
    assert_eq!(k1.key_id(), k2.key_id());
    assert!(
        !format!("{k1:?}").contains(text.trim()),
        "Debug shows no key"
    );
    // A raw 32-byte credential works too.
    let raw = dir.path().join("cred");
    fs::write(&raw, hex::decode(text.trim()).unwrap()).unwrap();
    fs::set_permissions(&raw, fs::Permissions::from_mode(0o400)).unwrap();
    assert_eq!(Keyring::load(&raw, false).unwrap().key_id(), k1.key_id());
    // Refused: readable by others, wrong length, missing without create.
    fs::set_permissions(&raw, fs::Permissions::from_mode(0o644)).unwrap();
    let e = Keyring::load(&raw, false).unwrap_err().to_string();
    assert!(e.contains("other users"), "{e}");
    let short = dir.path().join("short");
    fs::write(&short, "abcd").unwrap();
    fs::set_permissions(&short, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(Keyring::load(&short, false).is_err());
    assert!(Keyring::load(&dir.path().join("none"), false).is_err());
}

fn docs(k: &Keyring) -> Vec<(String, Value)> {
    (0..5)
        .map(|i| {
            let row = format!("s{i}");
            let v = k
                .seal_json(
                    &row,
                    &json!({"community": format!("c{i}"), "target": "t"}),
                    &json!({"community": "<redacted>", "target": "t"}),
                )
                .unwrap();
            (row, v)
        })
        .collect()
}

#[test]
fn issue13_rotation_reseals_under_a_new_key_and_survives_an_interruption() {
    let dir = tempfile::tempdir().unwrap();
    let old = keyring_in(dir.path());
    let mut rows = docs(&old);

    // Interrupted: the new key written, two rows re-sealed, then a "crash".
    let r = Rotation::begin_in_dir(dir.path()).unwrap();
    let new_id = r.to_id().to_owned();
    assert_ne!(new_id, old.key_id());
    for (row, v) in rows.iter_mut().take(2) {
        *v = r.reseal_json(row, v).unwrap();
    }
    drop(r);
    // A restart now opens every row: old and new key both load.
    let reloaded = keyring_in(dir.path());
    assert!(reloaded.rotation_pending());
    for (i, (row, v)) in rows.iter().enumerate() {
        assert_eq!(
            reloaded.open_json(row, v).unwrap()["community"],
            format!("c{i}")
        );
    }
    // Resumed: the same new key, every row re-sealed (twice for the first two: harmless).
    let r = Rotation::begin_in_dir(dir.path()).unwrap();
    assert_eq!(r.to_id(), new_id);
    for (row, v) in rows.iter_mut() {
        *v = r.reseal_json(row, v).unwrap();
    }
    let now = r.commit().unwrap();
    assert_eq!(now.key_id(), new_id);
    assert!(!dir.path().join(NEXT_KEY_FILE).exists());
    let reloaded = keyring_in(dir.path());
    assert_eq!(reloaded.key_id(), new_id);
    assert!(!reloaded.rotation_pending());
    for (i, (row, v)) in rows.iter().enumerate() {
        assert_eq!(
            reloaded.open_json(row, v).unwrap()["community"],
            format!("c{i}")
        );
        // The old key opens nothing any more.
        assert!(matches!(
            old.open_json(row, v),
            Err(SecretError::WrongKey { .. })
        ));
    }
}
