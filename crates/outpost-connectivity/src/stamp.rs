//! The reboot stamp: when the monitor last ordered a reboot, kept in the data directory so
//! `min_reboot_interval` holds across the reboots it orders.
//!
//! The file holds one line, the reboot's wall-clock time in Unix seconds. It is written
//! before the reboot command runs, atomically: a temporary file beside it, synced, renamed
//! over the stamp, and the directory synced. A write that fails stops the reboot (a reboot
//! the next boot cannot see would let a boot loop through).
//!
//! Read at start, a stamp that cannot be trusted is taken as "a reboot happened just now",
//! the reading that delays reboots rather than allows them, and rewritten so:
//! - a file that is not one number (corrupt, truncated, empty, not UTF-8);
//! - a stamp more than a minute in the future. Devices without a real-time clock boot with
//!   the clock far behind; ignoring such a stamp would let them reboot in a loop, and
//!   trusting it would forbid reboots until the clock catches up, maybe for years. Taking
//!   it as "now" costs one `min_reboot_interval` at most.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::clock::unix_secs;

/// How far ahead of the clock a stamp may be before it is distrusted (clock adjustments).
pub const FUTURE_TOLERANCE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum StampError {
    #[error("writing the reboot stamp {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What loading found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StampLoad {
    /// No stamp: no reboot ordered before.
    Missing,
    Valid,
    /// Not one number: taken as a reboot now.
    Corrupt(String),
    /// Ahead of the clock: taken as a reboot now.
    Future {
        stamp_unix: u64,
    },
    /// Unreadable (permissions, I/O): taken as a reboot now.
    Unreadable(String),
}

impl StampLoad {
    /// A note for the status and logs when the stamp was not taken as written.
    pub fn note(&self) -> Option<String> {
        match self {
            StampLoad::Missing | StampLoad::Valid => None,
            StampLoad::Corrupt(why) => Some(format!(
                "stamp file corrupt ({why}): taken as a reboot at start"
            )),
            StampLoad::Future { stamp_unix } => Some(format!(
                "stamp {stamp_unix} is ahead of the clock: taken as a reboot at start"
            )),
            StampLoad::Unreadable(why) => Some(format!(
                "stamp file unreadable ({why}): taken as a reboot at start"
            )),
        }
    }
}

#[derive(Debug)]
pub struct RebootStamp {
    path: PathBuf,
    last: Option<SystemTime>,
    loaded: StampLoad,
}

impl RebootStamp {
    /// Reads the stamp at `path` (see the module's rules); an untrusted one is rewritten
    /// as `now`, best effort (the value in memory holds either way).
    pub fn load(path: impl AsRef<Path>, now: SystemTime) -> Self {
        let path = path.as_ref().to_owned();
        let (loaded, last) = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (StampLoad::Missing, None),
            Err(e) => (StampLoad::Unreadable(e.to_string()), Some(now)),
            Ok(bytes) => match parse(&bytes) {
                Err(why) => (StampLoad::Corrupt(why), Some(now)),
                Ok(secs) if secs > unix_secs(now) + FUTURE_TOLERANCE.as_secs() => {
                    (StampLoad::Future { stamp_unix: secs }, Some(now))
                }
                Ok(secs) => (
                    StampLoad::Valid,
                    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)),
                ),
            },
        };
        let mut stamp = RebootStamp { path, last, loaded };
        if stamp.loaded.note().is_some() {
            if let Err(e) = stamp.record(now) {
                tracing::warn!(error = %e, "connectivity: could not rewrite the reboot stamp");
            }
        }
        stamp
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn loaded(&self) -> &StampLoad {
        &self.loaded
    }

    /// When the last reboot was ordered (as trusted; see the module).
    pub fn last(&self) -> Option<SystemTime> {
        self.last
    }

    /// When a reboot is allowed again.
    pub fn allowed_from(&self, min_interval: Duration) -> Option<SystemTime> {
        self.last.map(|l| l + min_interval)
    }

    /// Writes `now` atomically and keeps it; call before the reboot command runs.
    pub fn record(&mut self, now: SystemTime) -> Result<(), StampError> {
        let err = |source| StampError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = self
            .path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        std::fs::create_dir_all(&dir).map_err(err)?;
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(format!("{}\n", unix_secs(now)).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(err)?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        // The rename is durable only once the directory is.
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
        self.last = Some(now);
        Ok(())
    }
}

fn parse(bytes: &[u8]) -> Result<u64, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
    let t = text.trim();
    if t.is_empty() {
        return Err("empty".into());
    }
    if !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "not a number: {:?}",
            t.chars().take(32).collect::<String>()
        ));
    }
    t.parse().map_err(|_| "out of range".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn issue14_reboot_stamp_round_trips_and_untrusted_stamps_count_as_now() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/reboot.stamp");
        let mut s = RebootStamp::load(&p, at(1_000_000));
        assert_eq!((s.loaded(), s.last()), (&StampLoad::Missing, None));
        s.record(at(1_000_100)).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "1000100\n");
        let s = RebootStamp::load(&p, at(1_000_200));
        assert_eq!(
            (s.loaded(), s.last()),
            (&StampLoad::Valid, Some(at(1_000_100)))
        );

        for junk in [
            &b"garbage"[..],
            b"",
            b"\xff\xfe",
            b"12 34",
            b"99999999999999999999999",
        ] {
            std::fs::write(&p, junk).unwrap();
            let s = RebootStamp::load(&p, at(2_000_000));
            assert!(matches!(s.loaded(), StampLoad::Corrupt(_)), "{junk:?}");
            assert_eq!(s.last(), Some(at(2_000_000)), "{junk:?}");
            assert_eq!(std::fs::read_to_string(&p).unwrap(), "2000000\n");
        }

        // A clock far behind the stamp (no RTC after a reboot).
        std::fs::write(&p, "2000000\n").unwrap();
        let s = RebootStamp::load(&p, at(1_000));
        assert_eq!(
            s.loaded(),
            &StampLoad::Future {
                stamp_unix: 2_000_000
            }
        );
        assert_eq!(s.last(), Some(at(1_000)));
        assert_eq!(
            s.allowed_from(Duration::from_secs(3600)),
            Some(at(1_000 + 3600))
        );
        // Within the tolerance it is believed.
        std::fs::write(&p, "1030\n").unwrap();
        let s = RebootStamp::load(&p, at(1_000));
        assert_eq!((s.loaded(), s.last()), (&StampLoad::Valid, Some(at(1_030))));
    }
}
