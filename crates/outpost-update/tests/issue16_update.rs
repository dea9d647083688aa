//! Issue 16 §1-§2 against a local HTTPS server with a test CA: every refusal is a typed
//! error naming its reason and leaves the installed binary as it was (same bytes, no
//! `.prev`, no staged file left beside it); a good update and a key rotation succeed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use outpost_test_support::update_server::UpdateServer;
use outpost_update::signing::{self, GeneratedKey};
use outpost_update::{
    current_target, unix_now, Decision, Manifest, Outcome, RotationStatement, Settings, Target,
    TrustedKey, TrustedKeys, UpdateError, Updater,
};
use sha2::{Digest, Sha256};

const OLD: &[u8] = b"#!/bin/sh\necho outpost 0.1.0\n";
const NEW: &[u8] = b"#!/bin/sh\necho outpost 0.2.0\n";

struct Fixture {
    server: UpdateServer,
    dir: tempfile::TempDir,
    key: GeneratedKey,
}

impl Fixture {
    async fn new() -> Fixture {
        let server = UpdateServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        std::fs::write(dir.path().join("bin/outpost"), OLD).unwrap();
        Fixture {
            server,
            dir,
            key: signing::keygen(None).unwrap(),
        }
    }

    fn binary(&self) -> PathBuf {
        self.dir.path().join("bin/outpost")
    }

    fn settings(&self) -> Settings {
        let mut keys = TrustedKeys::empty();
        keys.add(TrustedKey::parse(&self.key.public).unwrap());
        Settings {
            base_url: self.server.url("channels"),
            channel: "stable".into(),
            target: current_target(),
            current_version: "0.1.0".parse().unwrap(),
            binary: self.binary(),
            state_dir: self.dir.path().join("state"),
            keys,
            ca_file: Some(self.server.ca.ca_file.clone()),
            // An empty directory: no container markers (this test machine may itself be a
            // container; the container test gives markers of its own).
            container_root: self.dir.path().join("root"),
            max_download_bytes: Settings::DEFAULT_MAX_DOWNLOAD_BYTES,
        }
    }

    fn updater(&self) -> Updater {
        Updater::new(self.settings()).unwrap()
    }

    /// Serves `bytes` at `path` and returns its manifest entry.
    fn build(&self, path: &str, version: &str, bytes: &[u8]) -> Target {
        self.server.put(path, bytes);
        Target {
            version: version.parse().unwrap(),
            url: self.server.url(path),
            size: bytes.len() as u64,
            sha256: Sha256::digest(bytes).into(),
            min_version: "0.1.0".parse().unwrap(),
        }
    }

    fn manifest(&self, counter: u64, target: Target) -> Manifest {
        Manifest {
            channel: "stable".into(),
            version: counter,
            expires: unix_now() + 3600,
            targets: BTreeMap::from([(current_target(), target)]),
        }
    }

    /// Publishes `m` on the stable channel, signed by `key`.
    fn publish(&self, m: &Manifest, key: &GeneratedKey) {
        let json = m.to_json();
        let sig = signing::sign(&key.secret, None, json.as_bytes(), None).unwrap();
        self.server.put("channels/stable.json", json);
        self.server.put("channels/stable.json.minisig", sig);
    }

    /// A manifest offering 0.2.0 (the NEW bytes), counter 1, signed by the trusted key.
    fn publish_good(&self) {
        let t = self.build("builds/outpost-0.2.0", "0.2.0", NEW);
        self.publish(&self.manifest(1, t), &self.key);
    }

    /// The installed binary is exactly as it was, nothing left beside it.
    fn assert_untouched(&self) {
        assert_eq!(std::fs::read(self.binary()).unwrap(), OLD);
        let names = dir_names(&self.dir.path().join("bin"));
        assert_eq!(names, vec!["outpost".to_string()], "left beside the binary");
    }

    async fn refused(&self) -> UpdateError {
        let err = self
            .updater()
            .apply(unix_now())
            .await
            .expect_err("the update must be refused");
        self.assert_untouched();
        err
    }
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn issue16_a_good_update_replaces_the_binary_and_keeps_the_previous_one() {
    let fx = Fixture::new().await;
    fx.publish_good();
    let checked = fx.updater().check(unix_now()).await.unwrap();
    assert_eq!(checked.decision, Decision::Update);
    assert!(!checked.rotated);
    assert_eq!(
        std::fs::read(fx.binary()).unwrap(),
        OLD,
        "check changes nothing"
    );

    let out = fx.updater().apply(unix_now()).await.unwrap();
    let prev = fx.dir.path().join("bin/outpost.prev");
    assert_eq!(
        out,
        Outcome::Updated {
            from: "0.1.0".parse().unwrap(),
            to: "0.2.0".parse().unwrap(),
            previous: prev.clone(),
        }
    );
    assert_eq!(std::fs::read(fx.binary()).unwrap(), NEW);
    assert_eq!(std::fs::read(&prev).unwrap(), OLD);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(fx.binary()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        dir_names(&fx.dir.path().join("bin")),
        vec!["outpost", "outpost.prev"]
    );
    // The new build runs and says its version.
    let out = std::process::Command::new(fx.binary()).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "outpost 0.2.0\n");
}

#[tokio::test]
async fn issue16_an_agent_already_on_the_offered_version_changes_nothing() {
    let fx = Fixture::new().await;
    let t = fx.build("builds/outpost-0.1.0", "0.1.0", OLD);
    fx.publish(&fx.manifest(1, t), &fx.key);
    let out = fx.updater().apply(unix_now()).await.unwrap();
    assert_eq!(
        out,
        Outcome::UpToDate {
            version: "0.1.0".parse().unwrap()
        }
    );
    fx.assert_untouched();
    assert!(
        !fx.server.hits().iter().any(|h| h.contains("builds/")),
        "nothing downloaded: {:?}",
        fx.server.hits()
    );
}

#[tokio::test]
async fn issue16_a_tampered_binary_is_refused() {
    let fx = Fixture::new().await;
    fx.publish_good();
    // Same size, other bytes: only the digest can tell.
    let mut evil = NEW.to_vec();
    evil[12] ^= 0x20;
    fx.server.put("builds/outpost-0.2.0", evil);
    let err = fx.refused().await;
    assert!(matches!(err, UpdateError::DigestMismatch { .. }), "{err}");
    assert_eq!(err.code(), "digest_mismatch");
    assert!(err.to_string().contains("SHA-256"), "{err}");
}

#[tokio::test]
async fn issue16_a_bad_signature_is_refused() {
    let fx = Fixture::new().await;
    fx.publish_good();
    // The manifest is changed after signing: one more day of validity.
    let t = fx.build("builds/outpost-0.2.0", "0.2.0", NEW);
    let mut m = fx.manifest(1, t);
    m.expires += 86_400;
    fx.server.put("channels/stable.json", m.to_json());
    let err = fx.refused().await;
    assert!(matches!(err, UpdateError::BadSignature { .. }), "{err}");
    assert!(err.to_string().contains(&fx.key.id.to_string()), "{err}");
    // A signature that is not one at all.
    fx.server.put(
        "channels/stable.json.minisig",
        "untrusted comment: x\nnot base64\n",
    );
    let err = fx.refused().await;
    assert_eq!(err.code(), "bad_signature", "{err}");
}

#[tokio::test]
async fn issue16_a_manifest_signed_by_an_unknown_key_is_refused() {
    let fx = Fixture::new().await;
    let stranger = signing::keygen(None).unwrap();
    let t = fx.build("builds/outpost-0.2.0", "0.2.0", NEW);
    fx.publish(&fx.manifest(1, t), &stranger);
    let err = fx.refused().await;
    match &err {
        UpdateError::UnknownKey { key_id } => assert_eq!(key_id, &stranger.id.to_string()),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("not trusted"), "{err}");
    // It looked for a rotation statement naming the stranger, found none.
    assert!(fx
        .server
        .hits()
        .contains(&format!("/channels/keys/{}.json", stranger.id)));
}

#[tokio::test]
async fn issue16_an_expired_manifest_is_refused() {
    let fx = Fixture::new().await;
    let t = fx.build("builds/outpost-0.2.0", "0.2.0", NEW);
    let mut m = fx.manifest(1, t);
    m.expires = unix_now() - 1;
    fx.publish(&m, &fx.key);
    let err = fx.refused().await;
    assert!(matches!(err, UpdateError::Expired { .. }), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
}

#[tokio::test]
async fn issue16_a_replayed_older_manifest_is_refused_by_its_counter() {
    let fx = Fixture::new().await;
    // Counter 5 offers the version already running: seen and recorded.
    let same = fx.build("builds/outpost-0.1.0", "0.1.0", OLD);
    fx.publish(&fx.manifest(5, same), &fx.key);
    fx.updater().check(unix_now()).await.unwrap();
    // Checking the same manifest again is fine.
    fx.updater().check(unix_now()).await.unwrap();
    // An older, genuinely signed manifest (counter 4) offering an update is a replay.
    let t = fx.build("builds/outpost-0.2.0", "0.2.0", NEW);
    fx.publish(&fx.manifest(4, t), &fx.key);
    let err = fx.refused().await;
    match err {
        UpdateError::Replayed { seen, got, .. } => assert_eq!((seen, got), (5, 4)),
        other => panic!("{other}"),
    }
    let saved = std::fs::read_to_string(fx.dir.path().join("state/stable.json")).unwrap();
    assert_eq!(saved, r#"{"counter":5}"#);
}

#[tokio::test]
async fn issue16_a_downgrade_is_refused() {
    let fx = Fixture::new().await;
    let mut t = fx.build("builds/outpost-0.0.9", "0.0.9", NEW);
    t.min_version = "0.0.1".parse().unwrap();
    fx.publish(&fx.manifest(1, t), &fx.key);
    let err = fx.refused().await;
    assert!(matches!(err, UpdateError::Downgrade { .. }), "{err}");
    assert_eq!(err.to_string(), "refusing a downgrade from 0.1.0 to 0.0.9");
}

#[tokio::test]
async fn issue16_a_build_below_the_minimum_version_is_refused() {
    let fx = Fixture::new().await;
    let mut t = fx.build("builds/outpost-0.2.0", "0.2.0", NEW);
    t.min_version = "0.3.0".parse().unwrap();
    fx.publish(&fx.manifest(1, t), &fx.key);
    let err = fx.refused().await;
    assert_eq!(err.code(), "below_min_version", "{err}");
    assert!(err.to_string().contains("0.3.0"), "{err}");
}

#[tokio::test]
async fn issue16_an_oversized_download_is_refused() {
    let fx = Fixture::new().await;
    fx.publish_good();
    // The server sends more than the manifest's size.
    let mut big = NEW.to_vec();
    big.extend_from_slice(&[b'x'; 4096]);
    fx.server.put("builds/outpost-0.2.0", big);
    let err = fx.refused().await;
    assert!(
        matches!(err, UpdateError::Oversized { limit } if limit == NEW.len() as u64),
        "{err}"
    );
    // A manifest announcing more than the agent's absolute cap is refused before fetching.
    fx.server.put("builds/outpost-0.2.0", NEW);
    let mut s = fx.settings();
    s.max_download_bytes = 8;
    let err = Updater::new(s)
        .unwrap()
        .apply(unix_now())
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateError::Oversized { limit: 8 }), "{err}");
    fx.assert_untouched();
}

#[tokio::test]
async fn issue16_a_truncated_download_is_refused() {
    let fx = Fixture::new().await;
    fx.publish_good();
    // Announces the whole build, sends half, closes.
    fx.server
        .short("builds/outpost-0.2.0", NEW.len(), &NEW[..NEW.len() / 2]);
    let err = fx.refused().await;
    match &err {
        UpdateError::Truncated { got, expected, .. } => {
            assert!(*got < NEW.len() as u64);
            assert_eq!(*expected, NEW.len() as u64);
        }
        other => panic!("{other}"),
    }
    // A shorter file served whole.
    fx.server.put("builds/outpost-0.2.0", &NEW[..10]);
    let err = fx.refused().await;
    assert!(
        matches!(err, UpdateError::Truncated { got: 10, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn issue16_a_redirect_to_plain_http_is_refused() {
    let fx = Fixture::new().await;
    fx.publish_good();
    let json = fx.server.hits().len(); // nothing fetched yet
    assert_eq!(json, 0);
    // The build's URL redirects to plain HTTP.
    fx.server.redirect(
        "builds/outpost-0.2.0",
        &format!("http://localhost:{}/builds/plain", fx.server.port),
    );
    let err = fx.refused().await;
    match &err {
        UpdateError::InsecureRedirect { location, .. } => {
            assert!(location.starts_with("http://"), "{location}")
        }
        other => panic!("{other}"),
    }
    // So does the manifest's.
    fx.server
        .redirect("channels/stable.json", "http://127.0.0.1:1/stable.json");
    let err = fx.refused().await;
    assert_eq!(err.code(), "insecure_redirect", "{err}");
    // An https redirect is followed.
    fx.publish_good();
    fx.server.put("builds/elsewhere", NEW);
    fx.server
        .redirect("builds/outpost-0.2.0", &fx.server.url("builds/elsewhere"));
    fx.updater().apply(unix_now()).await.unwrap();
    assert_eq!(std::fs::read(fx.binary()).unwrap(), NEW);
}

#[tokio::test]
async fn issue16_a_key_rotation_signed_by_the_old_key_is_accepted() {
    let fx = Fixture::new().await;
    let new_key = signing::keygen(None).unwrap();
    let t = fx.build("builds/outpost-0.2.0", "0.2.0", NEW);
    fx.publish(&fx.manifest(1, t), &new_key);
    // Without the statement the new key is unknown.
    let err = fx.refused().await;
    assert_eq!(err.code(), "unknown_key", "{err}");
    // The old (trusted) key signs a statement naming the new one.
    let statement = RotationStatement::new(
        TrustedKey::parse(&new_key.public).unwrap().base64.as_str(),
        Some("2027 key"),
    )
    .to_json();
    let sig = signing::sign(&fx.key.secret, None, statement.as_bytes(), None).unwrap();
    let path = format!("channels/keys/{}.json", new_key.id);
    fx.server.put(&path, statement);
    fx.server.put(&format!("{path}.minisig"), sig);
    let checked = fx.updater().check(unix_now()).await.unwrap();
    assert!(checked.rotated);
    assert_eq!(checked.signer, new_key.id);
    fx.updater().apply(unix_now()).await.unwrap();
    assert_eq!(std::fs::read(fx.binary()).unwrap(), NEW);
}

#[tokio::test]
async fn issue16_a_rotation_statement_signed_by_an_untrusted_key_is_refused() {
    let fx = Fixture::new().await;
    let new_key = signing::keygen(None).unwrap();
    let t = fx.build("builds/outpost-0.2.0", "0.2.0", NEW);
    fx.publish(&fx.manifest(1, t), &new_key);
    let statement = RotationStatement::new(
        TrustedKey::parse(&new_key.public).unwrap().base64.as_str(),
        None,
    )
    .to_json();
    let path = format!("channels/keys/{}.json", new_key.id);
    fx.server.put(&path, statement.clone());
    // Signed by the new key itself: it vouches for itself.
    let self_signed = signing::sign(&new_key.secret, None, statement.as_bytes(), None).unwrap();
    fx.server.put(&format!("{path}.minisig"), self_signed);
    let err = fx.refused().await;
    match &err {
        UpdateError::UntrustedRotation { key_id, signer } => {
            assert_eq!(key_id, &new_key.id.to_string());
            assert_eq!(signer, &new_key.id.to_string());
        }
        other => panic!("{other}"),
    }
    // Signed by the trusted key, but the statement was altered afterwards.
    let sig = signing::sign(&fx.key.secret, None, statement.as_bytes(), None).unwrap();
    fx.server.put(&format!("{path}.minisig"), sig);
    fx.server.put(
        &path,
        statement.replace("outpost-key-rotation\"", "outpost-key-rotation\" "),
    );
    let err = fx.refused().await;
    assert_eq!(err.code(), "bad_rotation_signature", "{err}");
}

#[tokio::test]
async fn issue16_inside_a_container_the_binary_is_never_replaced() {
    let fx = Fixture::new().await;
    fx.publish_good();
    let root = fx.dir.path().join("root");
    std::fs::write(root.join(".dockerenv"), "").unwrap();
    let err = fx.refused().await;
    assert_eq!(err.code(), "in_container", "{err}");
    assert!(err.to_string().contains(".dockerenv"), "{err}");
    std::fs::remove_file(root.join(".dockerenv")).unwrap();
    std::fs::create_dir_all(root.join("proc/1")).unwrap();
    std::fs::write(
        root.join("proc/1/cgroup"),
        "0::/system.slice/docker-0123abcd.scope\n",
    )
    .unwrap();
    let err = fx.refused().await;
    assert!(err.to_string().contains("/proc/1/cgroup"), "{err}");
    std::fs::write(root.join("proc/1/cgroup"), "0::/\n").unwrap();
    std::fs::create_dir_all(root.join("proc/self")).unwrap();
    std::fs::write(
        root.join("proc/self/mountinfo"),
        "1 0 0:1 / / rw - overlay overlay rw,lowerdir=/var/lib/containers/storage/overlay/l/A\n",
    )
    .unwrap();
    let err = fx.refused().await;
    assert!(err.to_string().contains("mountinfo"), "{err}");
    // A Docker host (its containers' mounts listed, its own root not from an engine) is
    // not a container.
    std::fs::write(
        root.join("proc/self/mountinfo"),
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 0:5 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw\n",
    )
    .unwrap();
    fx.updater().apply(unix_now()).await.unwrap();
    assert_eq!(std::fs::read(fx.binary()).unwrap(), NEW);
}

#[test]
fn issue16_the_compiled_in_release_key_is_a_minisign_key() {
    let k = TrustedKey::parse(outpost_update::RELEASE_PUBLIC_KEY).unwrap();
    assert!(TrustedKeys::builtin().find(k.id).is_some());
}

#[tokio::test]
async fn issue16_a_manifest_for_another_channel_or_without_this_target_is_refused() {
    let fx = Fixture::new().await;
    let t = fx.build("builds/outpost-0.2.0", "0.2.0", NEW);
    let mut m = fx.manifest(1, t.clone());
    m.channel = "beta".into();
    fx.publish(&m, &fx.key);
    let err = fx.refused().await;
    assert_eq!(err.to_string(), "manifest is for channel beta, not stable");
    let mut m = fx.manifest(2, t);
    m.targets = BTreeMap::from([(
        "mips-linux-musl".to_string(),
        m.targets.into_values().next().unwrap(),
    )]);
    fx.publish(&m, &fx.key);
    let err = fx.refused().await;
    assert_eq!(err.code(), "no_target", "{err}");
    assert!(err.to_string().contains(&current_target()), "{err}");
}

#[tokio::test]
async fn issue16_an_unreadable_counter_file_refuses_rather_than_forgetting_the_counter() {
    let fx = Fixture::new().await;
    fx.publish_good();
    std::fs::create_dir_all(fx.dir.path().join("state")).unwrap();
    std::fs::write(fx.dir.path().join("state/stable.json"), "{not json").unwrap();
    let err = fx.refused().await;
    assert_eq!(err.code(), "state", "{err}");
    assert!(err.is_local());
}

#[tokio::test]
async fn issue16_a_second_update_keeps_the_build_that_ran_before_it_as_prev() {
    let fx = Fixture::new().await;
    fx.publish_good();
    fx.updater().apply(unix_now()).await.unwrap();
    const NEWER: &[u8] = b"#!/bin/sh\necho outpost 0.3.0\n";
    let t = fx.build("builds/outpost-0.3.0", "0.3.0", NEWER);
    fx.publish(&fx.manifest(2, t), &fx.key);
    let mut s = fx.settings();
    s.current_version = "0.2.0".parse().unwrap();
    Updater::new(s).unwrap().apply(unix_now()).await.unwrap();
    assert_eq!(std::fs::read(fx.binary()).unwrap(), NEWER);
    assert_eq!(
        std::fs::read(fx.dir.path().join("bin/outpost.prev")).unwrap(),
        NEW
    );
    assert_eq!(
        dir_names(&fx.dir.path().join("bin")),
        vec!["outpost", "outpost.prev"]
    );
}
