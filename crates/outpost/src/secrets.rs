//! Secrets at rest, as the daemon and `outpost secrets` use them: where the key lives, which
//! stored columns hold sealed values, and rotation over the store file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use outpost_core::{reseal_offline, ResealError, SealedColumn};
use outpost_secrets::{Keyring, Rotation, KEY_FILE};

use crate::config::Config;

/// Every store column `outpost secrets rotate` re-seals: JSON documents whose secret leaves
/// are `{"$sealed": ..}`, sealed to the row's key. A table that stores sealed values adds
/// its line here.
pub const SEALED_COLUMNS: &[SealedColumn] = &[SealedColumn {
    table: "schedules",
    key: "id",
    column: "spec",
}];

/// Where the key is read from, and whether the agent manages it (creates it, and rotation
/// replaces it) or the operator does (`secrets.key_file`, e.g. a systemd credential).
pub fn key_location(cfg: &Config, data_dir: &Path) -> (PathBuf, bool) {
    match &cfg.secrets.key_file {
        Some(p) => (p.clone(), false),
        None => (data_dir.join(KEY_FILE), true),
    }
}

/// Opens the keyring for `outpost run`: created on first start when the agent manages it.
pub fn open_keyring(cfg: &Config, data_dir: &Path) -> anyhow::Result<Keyring> {
    let (path, managed) = key_location(cfg, data_dir);
    let keyring = Keyring::load(&path, managed)
        .context("loading the key that seals stored secrets (secrets.key_file)")?;
    if keyring.rotation_pending() {
        tracing::warn!(
            key = %path.display(),
            "an interrupted key rotation left secret.key.next: run `outpost secrets rotate` again to finish it"
        );
    }
    Ok(keyring)
}

/// What a rotation did.
pub struct Rotated {
    pub from: String,
    pub to: String,
    pub rows: usize,
}

/// Re-seals every sealed value in the store at `db` under a new key, in one transaction,
/// then (for an agent-managed key) replaces the key file. The agent must be stopped.
pub fn rotate(
    cfg: &Config,
    data_dir: &Path,
    db: &Path,
    new_key_file: Option<&Path>,
) -> anyhow::Result<Rotated> {
    let (path, managed) = key_location(cfg, data_dir);
    let rotation = match (managed, new_key_file) {
        (false, Some(new)) => Rotation::between(
            Keyring::load(&path, false)?,
            Keyring::load(new, false).context("the new key (--new-key-file)")?,
        ),
        (true, None) => Rotation::begin_in_dir(data_dir)?,
        (true, Some(_)) => anyhow::bail!(
            "--new-key-file is for an operator-managed key (secrets.key_file); the key in {} \
             is the agent's own, and rotation generates its successor",
            path.display()
        ),
        (false, None) => anyhow::bail!(
            "the key is operator-managed ({}): give the new key with --new-key-file",
            path.display()
        ),
    };
    let rows = match reseal_offline(db, SEALED_COLUMNS, &mut |id, text| {
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        rotation
            .reseal_json(id, &doc)
            .map(|v| v.to_string())
            .map_err(|e| e.to_string())
    }) {
        // No store yet: nothing is sealed, the key alone is replaced.
        Err(ResealError::Missing(_)) => 0,
        r => r?,
    };
    let from = rotation.from_id().to_owned();
    let to = rotation.to_id().to_owned();
    rotation.commit()?;
    Ok(Rotated { from, to, rows })
}
