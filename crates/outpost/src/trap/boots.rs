//! Our snmpEngineBoots, kept in the data directory: RFC 3414 wants it to grow at every
//! start, so that an inform recorded by an eavesdropper before a restart (same engine ID,
//! same keys, time counting from zero again) falls outside the new time window.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// The file in the data directory.
pub const FILE: &str = "snmp_engine_boots";
/// RFC 3414: snmpEngineBoots stops here; an engine that reaches it must be re-keyed.
const MAX: i32 = i32::MAX;

/// Reads the count left by the last start, adds one, writes it back (replacing the file
/// whole, so a crash leaves the old or the new count, never a torn one), and returns it.
/// A missing file counts as 0. A file that does not hold a count is an error, not a reset:
/// going back to 1 would reopen the time windows of earlier starts.
pub fn advance(data_dir: &Path) -> std::io::Result<i32> {
    let path = data_dir.join(FILE);
    let last = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<i32>().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} does not hold an engine boots count; remove it only if the trap \
                     receiver's v3 users are re-keyed",
                    path.display()
                ),
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    let boots = last.clamp(0, MAX - 1) + 1;
    let tmp = data_dir.join(format!("{FILE}.tmp"));
    {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        writeln!(f, "{boots}")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    Ok(boots)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn issue4_engine_boots_grow_at_each_start_and_refuse_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(advance(dir.path()).unwrap(), 1);
        assert_eq!(advance(dir.path()).unwrap(), 2);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(FILE)).unwrap(),
            "2\n"
        );
        std::fs::write(dir.path().join(FILE), format!("{}\n", i32::MAX)).unwrap();
        assert_eq!(advance(dir.path()).unwrap(), i32::MAX);
        std::fs::write(dir.path().join(FILE), "x").unwrap();
        assert!(advance(dir.path()).is_err());
    }
}
