//! The command line, parsed once into typed arguments.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::config::LogFormat;

const EXAMPLES: &str = "\
Examples:
  outpost run                                  start on built-in defaults (API on 127.0.0.1:7070)
  outpost run --listen 0.0.0.0:7443            serve the API beyond loopback (TLS turns on)
  outpost config check --config outpost.toml   validate a config file
  outpost config show --json                   the effective config, secrets redacted
  outpost version --json";

#[derive(Debug, Parser)]
#[command(
    name = "outpost",
    version,
    about = "One small, trustworthy agent for networks you cannot reach from outside",
    after_help = EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: local API, job pipeline, store.
    #[command(after_help = "\
Examples:
  outpost run
  outpost run --data-dir /var/lib/outpost --listen 127.0.0.1:7070
  OUTPOST_TOKEN=secret outpost run --log-format json

Exit codes: 0 stopped cleanly, 1 runtime failure, 2 bad usage or configuration.")]
    Run(RunArgs),
    /// Validate or show the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    #[cfg(feature = "tools")]
    /// Drive an agent: run jobs and watch results over MQTT or the local API.
    Ctl(crate::ctl::CtlArgs),
    /// Query an SNMP agent with net-snmp's flags: get, getnext, walk, bulkwalk, set.
    #[command(
        after_help = "Examples:
  outpost snmp get -v2c -c public 127.0.0.1:161 .1.3.6.1.2.1.1.1.0
  outpost snmp bulkwalk -v2c -c public -Cr20 udp6:[::1]:161 .1.3.6.1.2.1.2.2
  outpost snmp walk -v3 -l authPriv -u probe -a SHA -A PASS -x AES -X PASS tcp:10.0.0.2:161 IF-MIB::ifDescr
  outpost snmp set -v2c -c private 10.0.0.2 sysLocation.0 s \"rack 4\"

Output is `snmpwalk -On`'s line format (--json for JSON lines).
Exit codes: 0 ok, 1 SNMP or output failure, 2 bad usage.",
        disable_help_flag = true
    )]
    #[cfg(feature = "tools")]
    Snmp {
        /// The operation, TARGET, OIDs and net-snmp flags (-v -c -u -l -a -A -x -X -n -t -r -Cr -On -Os -M --json).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Ping hosts with fping's flags: alive/unreachable, -c/-C per-probe RTTs, -g sweeps.
    #[command(
        after_help = "Examples:
  outpost ping 192.0.2.1 gateway.lan
  outpost ping -c 3 -p 200 10.0.0.1 10.0.0.2
  outpost ping -q -C 5 -g 10.0.0.0/24
  outpost ping -c 1 --json -f hosts.txt

Output is fping 5.1's (--json for JSON lines).
Exit codes: 0 all alive, 1 some unreachable, 2 a host not found, 3 bad usage, 4 no ICMP socket.",
        disable_help_flag = true
    )]
    #[cfg(feature = "probes")]
    Ping {
        /// fping's flags and the targets (-c -C -p -t -b -q -g -f --json HOST...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Print a host-metrics snapshot: CPU, memory, load, disks, network (as a `metrics` job).
    #[command(
        after_help = "Examples:\n  outpost metrics\n  outpost metrics --json\n  outpost metrics --group cpu --group processes"
    )]
    #[cfg(feature = "tools")]
    Metrics(MetricsArgs),
    #[cfg(feature = "tools")]
    /// Receive SNMP traps and informs without the daemon (troubleshooting).
    #[command(subcommand)]
    Traps(TrapsCommand),
    #[cfg(feature = "exec")]
    /// Check the exec audit log's hash chain.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage the key that seals stored secrets.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    #[cfg(feature = "schedules")]
    /// List, add and remove schedules through the agent's local API.
    Schedules(crate::ctl::schedules::SchedulesArgs),
    /// Containers and declared apps through the agent's local API: ps, logs, apps, apply.
    #[cfg(feature = "containers")]
    Containers(crate::ctl::containers::ContainersArgs),
    #[cfg(feature = "update")]
    /// Check for and apply signed updates of this binary (issue 16).
    #[command(subcommand)]
    Update(crate::update_cmd::UpdateCommand),
    /// Release tool: make keys, sign manifests and key rotations (feature release-tool).
    #[cfg(feature = "release-tool")]
    #[command(subcommand)]
    Release(crate::update_cmd::ReleaseCommand),
    #[cfg(feature = "generate")]
    /// Write shell completions or man pages (packaging runs it after the build).
    #[command(subcommand, hide = true)]
    Generate(crate::generate_cmd::GenerateCommand),
    /// Print the version.
    #[command(
        after_help = "Examples:\n  outpost version\n  outpost version --json\n  outpost version --verbose --json"
    )]
    Version {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Also list the optional features compiled in (a router build has few).
        #[arg(long, short = 'v')]
        verbose: bool,
    },
}

#[cfg(feature = "tools")]
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Machine-readable output (the `metrics` job's result).
    #[arg(long)]
    pub json: bool,
    /// Only this group: cpu, memory, load, disks, network, processes, temperatures, gpus.
    /// Repeatable. Default: all but processes.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConfigFile {
    /// TOML configuration file.
    #[arg(long, env = "OUTPOST_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub file: ConfigFile,
    /// API listen address (config api.listen).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Data directory (config data_dir).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Serve the API over HTTPS (config api.tls).
    #[arg(long)]
    pub tls: bool,
    /// Allow plain HTTP on a non-loopback address (config api.insecure_plaintext).
    #[arg(long)]
    pub insecure_plaintext: bool,
    /// Log format (config log.format).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// SocketMan's config.json: take over its MQTT jobs (config socketman.config).
    #[arg(long, value_name = "FILE")]
    pub socketman_config: Option<PathBuf>,
    /// Towerops: read the agent token from this file instead of TOWEROPS_AGENT_TOKEN (the
    /// Towerops agent's flag; the token is never given on the command line).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Reagent's .flock: take over its IronFlock WAMP session (config reagent.config).
    #[arg(long, value_name = "FILE")]
    pub reagent_config: Option<PathBuf>,
    /// SocketMan's init server, as its `-b`: provision socketman.config from it when the
    /// file is missing or refused (config socketman.init_url).
    #[arg(short = 'b', long, value_name = "URL")]
    pub socketman_init_url: Option<String>,
    /// Run the agent as a child of a small supervisor that rolls an update back when the
    /// new binary exits or never proves healthy during its probation (the systemd unit
    /// uses it).
    #[arg(long)]
    pub supervised: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file; names the bad key and its line.
    #[command(after_help = "Examples:\n  outpost config check --config /etc/outpost.toml")]
    Check {
        #[command(flatten)]
        file: ConfigFile,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Print the effective configuration (all layers applied), secrets redacted.
    #[command(
        after_help = "Examples:\n  outpost config show\n  OUTPOST_API_LISTEN=127.0.0.1:9000 outpost config show --json"
    )]
    Show {
        #[command(flatten)]
        file: ConfigFile,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List every configuration key: environment variable, default, meaning (Markdown).
    #[command(after_help = "Examples:\n  outpost config keys")]
    Keys,
}

#[cfg(feature = "exec")]
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify DATA_DIR/audit.log: every line's hash, sequence and link to the line before.
    #[command(after_help = "\
Examples:
  outpost audit verify /var/lib/outpost/audit.log
  outpost audit verify --json ~/.local/state/outpost/audit.log

Lines cut from the end leave a valid shorter chain: compare the printed head with the last
exec.audit event the control plane received.
Exit codes: 0 intact, 1 tampered or unreadable (the first bad line is named), 2 bad usage.")]
    Verify {
        /// The audit log.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Re-seal every stored secret under a new key, atomically. Stop the agent first.
    #[command(after_help = "\
Examples:
  outpost secrets rotate --data-dir /var/lib/outpost
  outpost secrets rotate --config /etc/outpost.toml --new-key-file /etc/credstore/outpost.next

With the key in DATA_DIR/secret.key (the default), a new key is generated beside it and
replaces it once every value is re-sealed; an interrupted rotation is finished by running the
command again. With an operator-managed key (secrets.key_file, OUTPOST_SECRET_KEY_FILE), give
the new key with --new-key-file, then point the setting at it.
Exit codes: 0 rotated, 1 failure (nothing changed), 2 bad usage or configuration.")]
    Rotate {
        #[command(flatten)]
        file: ConfigFile,
        /// Data directory (config data_dir).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The new key (32 bytes or 64 hex digits), for an operator-managed key.
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(feature = "tools")]
#[derive(Debug, Subcommand)]
pub enum TrapsCommand {
    /// Print notifications as they arrive; informs are acknowledged. Stop with Ctrl-C.
    #[command(after_help = "\
Examples:
  outpost traps listen                           v4 and v6, port 162, community public
  outpost traps listen --port 1162 --community private --json
  outpost traps listen --listen 127.0.0.1 --port 0   an ephemeral port, printed on stderr")]
    Listen(TrapsListenArgs),
}

#[cfg(feature = "tools")]
#[derive(Debug, Args)]
pub struct TrapsListenArgs {
    /// UDP port.
    #[arg(long, short = 'p', default_value_t = 162)]
    pub port: u16,
    /// Accepted community (repeatable; * accepts any). Default: public.
    #[arg(long, short = 'c', value_name = "C")]
    pub community: Vec<String>,
    /// Address to listen on (repeatable). Default: 0.0.0.0 and ::.
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<std::net::IpAddr>,
    /// One JSON object per line (the event payload) instead of text.
    #[arg(long)]
    pub json: bool,
}
