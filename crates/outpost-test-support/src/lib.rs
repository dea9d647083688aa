//! The harnesses every test suite of the workspace shares: real peers started on ephemeral
//! loopback ports (snmpd, snmptrapd, snmpsim, Mosquitto, socktop_agent), the control planes
//! a test plays (an MQTT client, a Phoenix Channels server, an HTTP collector), the
//! `outpost run` launcher, the kernel's reference figures, and the SNMP values tests
//! generate. The suites used to copy these into their own `tests/` files; they now depend
//! on this crate (as a dev-dependency; bench as a dependency) and keep only what is theirs.
//!
//! # The rules every harness follows
//! - **Real peers, never skipped.** A missing peer binary panics naming the
//!   `scripts/deps/*.sh` that installs it ([`peer::binary`], [`peer::venv_binary`]).
//! - **Ephemeral loopback ports** ([`ports`]); a peer that loses the race for its port is
//!   started again on another.
//! - **No sleep as synchronization**: wait on a condition with a deadline ([`wait`]).
//! - **Cleaned up by PID**: a started peer is a [`peer::Process`], which kills and reaps
//!   its own child on drop (never by name) and shows the peer's stderr when it fails.
//!
//! # Adding a harness (the next ones: a dockerd on its own socket, a Crossbar router)
//! One new module, `src/NAME.rs`, declared below, built only from that plumbing:
//! 1. find the binary with [`peer::binary`] (system packages) or [`peer::venv_binary`]
//!    (Python peers in the test venv, as Crossbar will be), naming its `scripts/deps` script;
//! 2. write its config into a [`tempfile::TempDir`] the harness owns, on a port from
//!    [`ports`] (or a socket path inside that directory, as dockerd's will be);
//! 3. start it with [`peer::Process::spawn`] and wait until it answers with
//!    [`wait::wait_until`] / [`wait::wait_for`], checking [`peer::Process::assert_running`]
//!    so a peer that died says why;
//! 4. expose what tests need (its URL or address, its log), nothing more.
//!
//! [`snmptrapd`] is the smallest complete example; [`snmpsim`] shows a venv peer.
//!
//! Test code, so `unwrap`/`expect`/`panic` are allowed here: a harness that cannot do its
//! job must fail the test loudly, and a panic with context is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod agent;
pub mod control_plane;
pub mod crossbar;
pub mod dnsmasq;
pub mod dockerd;
pub mod fixture;
pub mod gzip;
pub mod http;
pub mod https;
pub mod image;
pub mod kernel;
pub mod mosquitto;
pub mod mosquitto_clients;
pub mod mqtt_peer;
pub mod multipart;
pub mod nats;
pub mod netns;
pub mod netsnmp;
pub mod opensearch;
pub mod peer;
pub mod phoenix;
pub mod ports;
pub mod reagent;
pub mod recorder;
pub mod registry;
pub mod routeros;
pub mod rsyslog;
pub mod rusty;
pub mod snmp_values;
pub mod snmpd;
pub mod snmpsim;
pub mod snmptrapd;
pub mod socktop_agent;
pub mod sshd;
pub mod towerops;
pub mod update_server;
pub mod wait;
