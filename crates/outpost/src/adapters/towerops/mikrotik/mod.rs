//! MIKROTIK: Towerops' RouterOS API jobs (compat doc §4) as jobs of kind
//! `towerops.mikrotik`, answered with `mikrotik_result` (MikrotikResult).
//!
//! A job connects to `mikrotik_device.ip:port` (TLS when `use_ssl`, the certificate
//! pinned on first use in the host-keys file: `tls.rs`), logs in with name and password,
//! runs its commands in order (each command's ordered `words` when present, else its
//! `args` map) and stops at the first error. The result carries every row read so far
//! (`!re`, and a `!done` that has attributes) and the error, in the original's words:
//! `connection failed: …` (dial, TLS, pin, login), `command '<c>' error: <message>` (a
//! `!trap`), `command '<c>' failed: …` (`!fatal`, a timeout, a bad reply, a closed
//! connection). Limits (the original's): 30 s to dial, 30 s per sentence, 16 MiB and
//! 10,000 sentences per reply, 10 MiB per word; and, beyond the original, the whole job
//! within `deadline_ms` (300 s when the job sets none), so a router that trickles a
//! reply forever cannot hold a worker.
//!
//! The password rides in the job's params (redacted before the job is stored) as a
//! `SecretString`, and is exposed only to build the login sentence.
//!
//! Beyond the original: a port of 0 means the API's usual port (8728, 8729 with TLS).

pub mod client;
mod kind;
pub mod tls;

pub use kind::{spec, Mikrotik, KIND};
