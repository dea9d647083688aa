//! Config backups over SSH (issue 17; compat doc §5): CONFIG_BACKUP jobs and the legacy
//! `backup:` MIKROTIK job, as jobs of kind `towerops.backup` (`job.rs`). `ssh.rs` is the
//! connection (russh: password login, host key checked against the job's expected
//! fingerprint or the host-keys file, one exec channel per command, output capped);
//! `routeros.rs` reads what a MikroTik router says (version, the `/export` form by
//! version, model, the verdict on an export).

pub mod job;
pub mod routeros;
pub mod ssh;
