//! Scripts: from the scripts directory by name, or inline (content in the request).
//!
//! A script file is opened once (`O_NOFOLLOW`, relative to the directory's own descriptor),
//! checked on that descriptor (`fstat`: a regular file, one link, owned by root or the agent,
//! writable by neither group nor others), read once, and copied into a sealed memfd. The
//! interpreter reads the memfd through `/proc/self/fd/N`: whatever happens to the directory
//! after the check (a rename, a symlink, a hard link, a rewrite in place), what runs is the
//! bytes that were checked, and the audit line carries their SHA-256. Inline scripts take the
//! same path from their decoded bytes: they never touch the filesystem, so there is no file
//! to swap (this is the "private temporary file" of the design, without the file).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use rustix::fs::{fstat, openat, FileType, MemfdFlags, Mode, OFlags, SealFlags};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::name::CommandName;
use crate::plan::check_argv_size;
use crate::refusal::{quote_prefix, ReasonCode, Refusal};
use crate::spec::find_in_safe_path;

/// The interpreters a script may name; nothing else runs a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpreter {
    Sh,
    Bash,
    Python3,
}

impl Interpreter {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sh" => Some(Self::Sh),
            "bash" => Some(Self::Bash),
            "python3" => Some(Self::Python3),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sh => "sh",
            Self::Bash => "bash",
            Self::Python3 => "python3",
        }
    }

    /// Option letters a shebang may pass (`#!/bin/sh -eu`): none that reads code from an
    /// argument (`-c`) or changes what is read (`-i`, `-s` for shells).
    fn allowed_flags(self) -> &'static str {
        match self {
            Self::Sh | Self::Bash => "eux",
            Self::Python3 => "uBEIs",
        }
    }
}

/// A script's checked bytes in a sealed memfd, and how to run them.
#[derive(Debug)]
pub struct ScriptImage {
    fd: OwnedFd,
    pub sha256: String,
    pub len: usize,
    pub interpreter: Interpreter,
    pub flag: Option<String>,
    program: PathBuf,
}

impl ScriptImage {
    /// The path the interpreter opens: this descriptor, which the child keeps across exec.
    pub fn fd_path(&self) -> String {
        format!("/proc/self/fd/{}", self.fd.as_raw_fd())
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub(crate) fn program(&self) -> &Path {
        &self.program
    }

    /// `[interpreter, flag?, /proc/self/fd/N, args...]`.
    pub(crate) fn argv(&self, args: Vec<String>) -> Vec<String> {
        let mut argv = vec![self.interpreter.name().to_owned()];
        argv.extend(self.flag.clone());
        argv.push(self.fd_path());
        argv.extend(args);
        argv
    }
}

/// A script could not be resolved: refused (the request's fault) or failed (ours).
#[derive(Debug)]
pub(crate) enum ScriptError {
    Refused(Refusal),
    Io(io::Error),
}

impl From<Refusal> for ScriptError {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

/// The script arguments of a request: strings, no NUL, bounded.
pub(crate) fn check_args(args: &[Value]) -> Result<Vec<String>, Refusal> {
    let mut out = Vec::with_capacity(args.len());
    for (i, v) in args.iter().enumerate() {
        let field = format!("args[{i}]");
        let s = crate::param::text(&field, v, "a string")?;
        out.push(s.to_owned());
    }
    check_argv_size(&out, "args")?;
    Ok(out)
}

/// Opens `name` in `dir` once, checks it on the open descriptor, and snapshots it.
pub(crate) fn open_script(dir: &Path, name: &str, max: usize) -> Result<ScriptImage, ScriptError> {
    let name = CommandName::parse(name).map_err(|m| {
        Refusal::new(
            ReasonCode::BadName,
            "script",
            format!("{}: {m}", quote_prefix(name)),
        )
    })?;
    let agent_uid = rustix::process::geteuid().as_raw();
    let unsafe_dir = |why: String| {
        ScriptError::Refused(Refusal::new(
            ReasonCode::ScriptsDirUnsafe,
            "script",
            format!("scripts directory {}: {why}", dir.display()),
        ))
    };
    let dirfd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| unsafe_dir(format!("cannot open it: {e}")))?;
    let st = fstat(&dirfd).map_err(|e| ScriptError::Io(e.into()))?;
    if st.st_uid != 0 && st.st_uid != agent_uid {
        return Err(unsafe_dir(format!("owned by uid {}", st.st_uid)));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(unsafe_dir(format!(
            "mode {:o} lets others write",
            st.st_mode & 0o7777
        )));
    }

    let refuse = |code, msg: String| ScriptError::Refused(Refusal::new(code, "script", msg));
    let fd = openat(
        &dirfd,
        name.as_str(),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP => {
            refuse(ReasonCode::ScriptNotRegular, format!("{name} is a symlink"))
        }
        rustix::io::Errno::NOENT => refuse(
            ReasonCode::ScriptNotFound,
            format!("{name} is not in the scripts directory"),
        ),
        other => refuse(ReasonCode::ScriptNotFound, format!("{name}: {other}")),
    })?;
    let st = fstat(&fd).map_err(|e| ScriptError::Io(e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(refuse(
            ReasonCode::ScriptNotRegular,
            format!("{name} is not a regular file"),
        ));
    }
    if st.st_uid != 0 && st.st_uid != agent_uid {
        return Err(refuse(
            ReasonCode::ScriptOwner,
            format!(
                "{name} is owned by uid {}, not root or the agent",
                st.st_uid
            ),
        ));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(refuse(
            ReasonCode::ScriptWritable,
            format!(
                "{name} has mode {:o}: group or others may write it",
                st.st_mode & 0o7777
            ),
        ));
    }
    if st.st_nlink != 1 {
        return Err(refuse(
            ReasonCode::ScriptLinks,
            format!(
                "{name} has {} hard links: a file linked in from elsewhere",
                st.st_nlink
            ),
        ));
    }
    let too_large = || {
        refuse(
            ReasonCode::ScriptTooLarge,
            format!("{name} is larger than {max} bytes"),
        )
    };
    if usize::try_from(st.st_size).map_or(true, |s| s > max) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    File::from(fd)
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(ScriptError::Io)?;
    if bytes.len() > max {
        return Err(too_large());
    }
    snapshot(&bytes, None, "script")
}

/// An inline script's bytes (already decoded), snapshotted like a file's.
pub(crate) fn inline_image(
    bytes: &[u8],
    interpreter: Option<&str>,
    max: usize,
) -> Result<ScriptImage, ScriptError> {
    if bytes.len() > max {
        return Err(Refusal::new(
            ReasonCode::ScriptTooLarge,
            "inline.content_base64",
            format!("{} bytes, at most {max}", bytes.len()),
        )
        .into());
    }
    let chosen = match interpreter {
        None => None,
        Some(n) => Some(Interpreter::parse(n).ok_or_else(|| {
            Refusal::new(
                ReasonCode::BadInterpreter,
                "inline.interpreter",
                format!("{} is not sh, bash or python3", quote_prefix(n)),
            )
        })?),
    };
    snapshot(bytes, chosen, "inline")
}

/// The interpreter (given, else the shebang's, else sh), then the sealed copy.
fn snapshot(
    bytes: &[u8],
    given: Option<Interpreter>,
    field: &str,
) -> Result<ScriptImage, ScriptError> {
    let (interpreter, flag) = match (given, shebang(bytes, field)?) {
        (Some(i), _) => (i, None),
        (None, Some((i, flag))) => (i, flag),
        (None, None) => (Interpreter::Sh, None),
    };
    let program = find_in_safe_path(interpreter.name()).ok_or_else(|| {
        Refusal::new(
            ReasonCode::BadInterpreter,
            field,
            format!("{} is not installed in the safe PATH", interpreter.name()),
        )
    })?;
    let fd = sealed_copy(bytes).map_err(ScriptError::Io)?;
    Ok(ScriptImage {
        fd,
        sha256: hex::encode(Sha256::digest(bytes)),
        len: bytes.len(),
        interpreter,
        flag,
        program,
    })
}

/// A memfd holding `bytes`, sealed against any change (write, grow, shrink, new seals).
fn sealed_copy(bytes: &[u8]) -> io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(
        "outpost-exec-script",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    let mut f = File::from(fd);
    f.write_all(bytes)?;
    let fd = OwnedFd::from(f);
    rustix::fs::fcntl_add_seals(
        &fd,
        SealFlags::WRITE | SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL,
    )?;
    Ok(fd)
}

/// `#!/bin/sh`, `#!/usr/bin/env bash`, `#!/usr/bin/python3 -u`: the interpreter must be one
/// of ours, with at most one option word made of its allowed letters.
fn shebang(bytes: &[u8], field: &str) -> Result<Option<(Interpreter, Option<String>)>, Refusal> {
    let Some(rest) = bytes.strip_prefix(b"#!") else {
        return Ok(None);
    };
    let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
    let bad = |why: String| Refusal::new(ReasonCode::BadInterpreter, field, why);
    if line.len() > 256 {
        return Err(bad("the shebang line is longer than 256 bytes".into()));
    }
    let line = std::str::from_utf8(line).map_err(|_| bad("the shebang is not UTF-8".into()))?;
    let mut words = line.split_ascii_whitespace();
    let first = words.next().ok_or_else(|| bad("empty shebang".into()))?;
    let name = if first == "/usr/bin/env" || first == "/bin/env" {
        words
            .next()
            .ok_or_else(|| bad("env with no program".into()))?
    } else {
        first.rsplit('/').next().unwrap_or(first)
    };
    let interpreter = Interpreter::parse(name).ok_or_else(|| {
        bad(format!(
            "shebang names {}: only sh, bash and python3 run scripts",
            quote_prefix(name)
        ))
    })?;
    let flag = match (words.next(), words.next()) {
        (None, _) => None,
        (Some(f), None)
            if f.len() >= 2
                && f.len() <= 9
                && f.starts_with('-')
                && f[1..]
                    .chars()
                    .all(|c| interpreter.allowed_flags().contains(c)) =>
        {
            Some(f.to_owned())
        }
        _ => {
            return Err(bad(format!(
                "shebang options {:?} are not allowed (one word of -{})",
                line.chars().take(60).collect::<String>(),
                interpreter.allowed_flags()
            )))
        }
    };
    Ok(Some((interpreter, flag)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        let ok = |s: &str| shebang(s.as_bytes(), "script").ok().flatten();
        assert_eq!(ok("#!/bin/sh\necho"), Some((Interpreter::Sh, None)));
        assert_eq!(ok("#!/usr/bin/env bash\n"), Some((Interpreter::Bash, None)));
        assert_eq!(
            ok("#! /usr/bin/python3 -u\n"),
            Some((Interpreter::Python3, Some("-u".into())))
        );
        assert_eq!(
            ok("#!/bin/bash -eu\n"),
            Some((Interpreter::Bash, Some("-eu".into())))
        );
        assert_eq!(ok("echo hi"), None);
        for bad in [
            "#!/usr/bin/perl\n",
            "#!/bin/bash -c\n",
            "#!/bin/sh -e -u\n",
            "#!/usr/bin/env -S bash\n",
            "#!\n",
        ] {
            assert!(shebang(bad.as_bytes(), "script").is_err(), "{bad:?}");
        }
    }
}
