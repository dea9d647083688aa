//! Reading /proc files into one reused buffer, with as few system calls as the
//! kernel allows. `std::fs::read_to_string` costs an `openat`, a `statx` (for a
//! size hint procfs reports as 0) and then reads of 32, 32, 64, 128... bytes
//! until end of file: eight reads and ten system calls for /proc/stat, and a
//! fresh allocation each time. Uncached socktop requests read dozens of these
//! files per reply (two per process for `get_processes`), so that pattern was
//! most of the kernel time in their profiles (bench/host/RESULTS.md, issue 11).
//!
//! Here a file costs `openat`, one `read` and `close`: the buffer is kept
//! between reads (grown, never shrunk below what the host's files need) and a
//! file known to be a single record stops at the first short read. A file kept
//! open costs one `pread` (see [`crate::processes`]).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

/// Start size: /proc/PID/stat and statm, /proc/meminfo and a small host's
/// /proc/stat fit; larger files grow the buffer once and keep it.
const INITIAL: usize = 4096;

/// How a file ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The kernel builds the whole file in one go (`single_open`: /proc/stat,
    /// /proc/meminfo, /proc/PID/stat, /proc/PID/statm) and hands out as much
    /// of it as the buffer holds, so a read shorter than the buffer is the end
    /// of the file. procps's `file2str` (top, ps) relies on the same.
    OneRecord,
    /// Any other file (/proc/net/dev is one record per interface and may
    /// return a short read before its end): read until a read returns 0.
    Records,
}

/// A reusable read buffer. Its length is its initialised size; `len` of the
/// last file is returned as a slice, so nothing is zeroed between reads.
#[derive(Debug, Default)]
pub(crate) struct FileReader {
    buf: Vec<u8>,
}

impl FileReader {
    /// Reads an open file from its start (`pread` at offset 0). A procfs file kept open reads
    /// fresh content this way: the kernel rebuilds it for a read at offset 0.
    pub(crate) fn read_fd(&mut self, fd: &OwnedFd, shape: Shape) -> io::Result<&str> {
        if self.buf.is_empty() {
            self.buf.resize(INITIAL, 0);
        }
        let mut len = 0;
        loop {
            if len == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let space = self.buf.get_mut(len..).unwrap_or_default();
            let room = space.len();
            let n = match rustix::io::pread(fd, space, len as u64) {
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            };
            len += n;
            if n == 0 || (shape == Shape::OneRecord && n < room) {
                break;
            }
        }
        let bytes = self.buf.get(..len).unwrap_or_default();
        std::str::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// Opens `rel` (e.g. `1234/stat`) under an open directory: the kernel resolves two path
/// components instead of four.
pub(crate) fn open_at(dir: &OwnedFd, rel: &str) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir.as_fd(),
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Whether an open file is on procfs, whose files can be kept open and re-read: a file of a
/// gone process reads ESRCH there, while a replaced regular file (tests' fake trees) would
/// keep its old content.
pub(crate) fn is_procfs(fd: &OwnedFd) -> bool {
    rustix::fs::fstatfs(fd).is_ok_and(|s| s.f_type == rustix::fs::PROC_SUPER_MAGIC)
}

/// A host-wide procfs file (/proc/stat, /proc/meminfo, /proc/net/dev) kept open after its
/// first read and re-read with `pread` at offset 0: an uncached `get_metrics` spent 26% of its
/// time opening and closing its three files (issue 11). Anywhere but procfs it is opened for
/// each read.
#[derive(Debug, Default)]
pub(crate) struct KeptFile {
    fd: Option<OwnedFd>,
}

impl KeptFile {
    pub(crate) fn read<'r>(
        &mut self,
        reader: &'r mut FileReader,
        path: &Path,
        shape: Shape,
    ) -> io::Result<&'r str> {
        if self.fd.is_none() {
            let fd = OwnedFd::from(File::open(path)?);
            if !is_procfs(&fd) {
                return reader.read_fd(&fd, shape);
            }
            self.fd = Some(fd);
        }
        let Some(fd) = self.fd.as_ref() else {
            return Err(io::ErrorKind::NotFound.into());
        };
        let text = reader.read_fd(fd, shape);
        if text.is_err() {
            // Opened afresh next time.
            self.fd = None;
        }
        text
    }
}

/// Opens a directory (e.g. /proc) for [`open_at`] and for listing.
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens and reads `path` once.
    fn read_path<'r>(r: &'r mut FileReader, path: &Path, shape: Shape) -> io::Result<&'r str> {
        KeptFile::default().read(r, path, shape)
    }

    #[test]
    fn reads_whole_files_of_any_size_and_reuses_the_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let big = "x".repeat(3 * INITIAL + 17);
        std::fs::write(dir.path().join("big"), &big).unwrap();
        std::fs::write(dir.path().join("small"), "1 2 3\n").unwrap();
        let mut r = FileReader::default();
        for shape in [Shape::Records, Shape::OneRecord] {
            assert_eq!(
                read_path(&mut r, &dir.path().join("big"), shape).unwrap(),
                big
            );
            assert_eq!(
                read_path(&mut r, &dir.path().join("small"), shape).unwrap(),
                "1 2 3\n"
            );
        }
        let dir_fd = open_dir(dir.path()).unwrap();
        let small = open_at(&dir_fd, "small").unwrap();
        assert_eq!(r.read_fd(&small, Shape::OneRecord).unwrap(), "1 2 3\n");
        // Kept open, the file is read again from its start, with what it holds now.
        std::fs::write(dir.path().join("small"), "4 5\n").unwrap();
        assert_eq!(r.read_fd(&small, Shape::OneRecord).unwrap(), "4 5\n");
        assert!(open_at(&dir_fd, "missing").is_err());
        std::fs::write(dir.path().join("bad"), [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_path(&mut r, &dir.path().join("bad"), Shape::Records)
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn kept_files_stay_open_on_procfs_only() {
        let mut r = FileReader::default();
        let mut proc = KeptFile::default();
        let a = proc
            .read(&mut r, Path::new("/proc/self/stat"), Shape::OneRecord)
            .unwrap()
            .to_owned();
        assert!(proc.fd.is_some());
        // Read again through the kept file: the same process, fresh content.
        let b = proc
            .read(&mut r, Path::new("/proc/self/stat"), Shape::OneRecord)
            .unwrap();
        assert_eq!(a.split(' ').next(), b.split(' ').next());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stat");
        std::fs::write(&path, "old").unwrap();
        let mut plain = KeptFile::default();
        assert_eq!(plain.read(&mut r, &path, Shape::OneRecord).unwrap(), "old");
        assert!(plain.fd.is_none());
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "new").unwrap();
        assert_eq!(plain.read(&mut r, &path, Shape::OneRecord).unwrap(), "new");
    }

    #[test]
    fn real_proc_files_read_the_same_as_std() {
        let mut r = FileReader::default();
        for (path, shape) in [
            ("/proc/self/statm", Shape::OneRecord),
            ("/proc/meminfo", Shape::OneRecord),
            ("/proc/net/dev", Shape::Records),
        ] {
            let ours = read_path(&mut r, Path::new(path), shape)
                .unwrap()
                .to_owned();
            let std = std::fs::read_to_string(path).unwrap();
            // Counters move between the two reads; the shape must not.
            assert_eq!(ours.lines().count(), std.lines().count(), "{path}");
        }
    }
}
