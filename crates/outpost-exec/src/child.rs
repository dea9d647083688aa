//! The only `unsafe` in the crate: the closure that runs in the forked child, between fork
//! and exec. By then std has already set up stdio, the group id, the dropped supplementary
//! groups, the user id, the working directory and the process group (Command's own
//! `gid`/`uid`/`current_dir`/`process_group`); this adds what std has no option for.
//!
//! The child of a threaded process may only make async-signal-safe calls: the closure makes
//! raw system calls (through rustix and, for Landlock, `libc::syscall`), allocates nothing,
//! takes no lock, and builds its errors from raw errno values (no allocation either).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{BorrowedFd, RawFd};

use rustix::io::FdFlags;
use rustix::process::{Resource, Rlimit};

/// Everything the child needs, as plain values (it is moved into the closure).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildSetup {
    /// (resource, soft, hard). Each is clamped to the limit already in force, since an
    /// unprivileged child (the user was already switched) cannot raise a hard limit.
    pub rlimits: [(Resource, u64, u64); 6],
    /// A Landlock ruleset descriptor built by the parent (close-on-exec, so it goes away at
    /// exec); `None`: no Landlock.
    pub landlock_fd: Option<RawFd>,
    /// The script memfd the interpreter opens through `/proc/self/fd/N`: its close-on-exec
    /// flag is cleared here, in this child only, so no other concurrently spawned child
    /// inherits it.
    pub keep_fd: Option<RawFd>,
    /// Niceness for the child (it can only be raised once the user was switched): at least
    /// the one it inherited.
    pub nice: i32,
}

impl ChildSetup {
    fn apply(&self) -> io::Result<()> {
        for (resource, soft, hard) in self.rlimits {
            let current = rustix::process::getrlimit(resource);
            let ceiling = current.maximum.unwrap_or(u64::MAX);
            let hard = hard.min(ceiling);
            let soft = soft.min(hard);
            rustix::process::setrlimit(
                resource,
                Rlimit {
                    current: Some(soft),
                    maximum: Some(hard),
                },
            )
            .map_err(io::Error::from)?;
        }
        // Never below the niceness already in force: an agent started under `nice -n 19`
        // gives children 19, and an unprivileged child may not lower it (EACCES made every
        // command fail to start there).
        let current = rustix::process::getpriority_process(None).map_err(io::Error::from)?;
        rustix::process::setpriority_process(None, self.nice.max(current))
            .map_err(io::Error::from)?;
        // Before Landlock: an unprivileged restrict_self requires it, and it stops setuid
        // binaries from regaining what was dropped.
        rustix::thread::set_no_new_privs(true).map_err(io::Error::from)?;
        if let Some(fd) = self.landlock_fd {
            // SAFETY: a plain system call on a descriptor the parent keeps open until the
            // spawn returns; no memory is passed.
            let rc = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0_u32) };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if let Some(fd) = self.keep_fd {
            // SAFETY: the parent holds this descriptor open (in the plan's ScriptImage) until
            // the spawn returns, so it is valid in the child for this call.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            rustix::io::fcntl_setfd(fd, FdFlags::empty()).map_err(io::Error::from)?;
        }
        Ok(())
    }
}

/// Installs `setup` to run in the child before exec.
pub(crate) fn install(cmd: &mut tokio::process::Command, setup: ChildSetup) {
    // SAFETY: the closure only calls `ChildSetup::apply`, which is async-signal-safe (see
    // the module comment): system calls on plain values, no allocation, no locks.
    unsafe {
        cmd.pre_exec(move || setup.apply());
    }
}

/// The rlimits a run applies: (resource, soft, hard).
pub(crate) fn rlimits(l: &crate::plan::Limits) -> [(Resource, u64, u64); 6] {
    [
        // SIGXCPU at the soft limit, SIGKILL a second later.
        (Resource::Cpu, l.cpu_secs, l.cpu_secs.saturating_add(1)),
        (Resource::As, l.memory_bytes, l.memory_bytes),
        (Resource::Nofile, l.open_files, l.open_files),
        (Resource::Nproc, l.processes, l.processes),
        // No core dumps: a dump would write the command's memory where the agent cannot see.
        (Resource::Core, 0, 0),
        // A 1 GiB file at most, so a runaway command cannot fill the disk in one go.
        (Resource::Fsize, 1 << 30, 1 << 30),
    ]
}
