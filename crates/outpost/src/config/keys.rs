//! Every configuration key: its type, default, whether it is secret, and what it is for.
//!
//! This table is the single source of defaults, of the environment variable names, of the
//! redaction in `config show`, and of the README's reference (a test keeps them in step).

/// The TOML type a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int,
    Bool,
}

pub struct Key {
    /// Dotted path, e.g. `api.listen`.
    pub name: &'static str,
    pub ty: Ty,
    /// Built-in default as TOML literal text; `None` means unset (optional).
    pub default: Option<&'static str>,
    /// Shown as `[redacted]` by `config show`.
    pub secret: bool,
    pub doc: &'static str,
}

const fn key(name: &'static str, ty: Ty, default: Option<&'static str>, doc: &'static str) -> Key {
    Key {
        name,
        ty,
        default,
        secret: false,
        doc,
    }
}

pub const KEYS: &[Key] = &[
    key("data_dir", Ty::Str, None, "Where the store, token and TLS key live. Default: $XDG_STATE_HOME/outpost, else ~/.local/state/outpost."),
    key("api.listen", Ty::Str, Some("\"127.0.0.1:7070\""), "Local API address. A non-loopback address turns TLS on unless api.insecure_plaintext is set."),
    Key { secret: true, ..key("api.token", Ty::Str, None, "Bearer token for the API (also OUTPOST_TOKEN). Default: generated on first start into DATA_DIR/token (mode 0600).") },
    key("api.tls", Ty::Bool, Some("false"), "Serve HTTPS."),
    key("api.insecure_plaintext", Ty::Bool, Some("false"), "Allow plain HTTP on a non-loopback address."),
    key("api.tls_cert", Ty::Str, None, "PEM certificate chain. Default: a self-signed ECDSA certificate generated into DATA_DIR/tls/."),
    key("api.tls_key", Ty::Str, None, "PEM private key for api.tls_cert."),
    key("api.max_body_bytes", Ty::Int, Some("1048576"), "Largest request body accepted."),
    key("log.level", Ty::Str, Some("\"info\""), "error, warn, info, debug or trace (also LOG_LEVEL; RUST_LOG, if set, wins)."),
    key("log.format", Ty::Str, Some("\"text\""), "text or json."),
    key("log.target", Ty::Str, None, "stderr, syslog (facility user, ident outpost) or journald (its native socket). Unset: stderr; with socketman.config set, syslog with ident socketman, as SocketMan (stderr while the DEBUG environment variable is set)."),
    key("log.syslog_socket", Ty::Str, Some("\"/dev/log\""), "The local syslog socket log.target = syslog writes to (a Unix datagram socket)."),
    key("jobs.queue_capacity", Ty::Int, Some("1024"), "Jobs queued or running at most; beyond it submissions are refused as busy."),
    key("jobs.default_timeout_ms", Ty::Int, Some("30000"), "Timeout of a job that names none."),
    key("jobs.max_timeout_ms", Ty::Int, Some("3600000"), "Longest timeout a job may ask for."),
    key("store.sync", Ty::Str, Some("\"normal\""), "normal: survives any process crash; full: also survives power loss, at a lower write rate."),
    key("store.outbox_max_rows", Ty::Int, Some("1000000"), "Outbox rows kept at most; unacknowledged rows dropped by it are counted."),
    key("store.outbox_max_age_secs", Ty::Int, Some("604800"), "Outbox rows older than this are dropped (counted if unacknowledged)."),
    key("store.jobs_max_rows", Ty::Int, Some("100000"), "Finished jobs kept for GET /v1/jobs."),
    key("store.jobs_max_age_secs", Ty::Int, Some("604800"), "Finished jobs older than this are forgotten."),
    key("metrics.ttl_ms", Ty::Int, Some("250"), "How long CPU, memory, load, network, temperature and GPU figures are served from cache (/ws, /metrics, metrics jobs). 0 collects on every request."),
    key("metrics.disks_ttl_ms", Ty::Int, Some("1000"), "How long the filesystem list is served from cache."),
    key("metrics.processes_ttl_ms", Ty::Int, Some("1500"), "How long the process list is served from cache."),
    Key { secret: true, ..key("stats.url", Ty::Str, None, "Stats push: POST gzipped batches of host-metrics snapshots here (https, or http to loopback only). Unset: no stats push.") },
    Key { secret: true, ..key("stats.backup_url", Ty::Str, None, "Stats push: tried when stats.url does not answer 2xx.") },
    key("stats.interval_secs", Ty::Int, Some("60"), "Stats push: seconds between snapshots (and POST attempts)."),
    key("stats.cache_max_bytes", Ty::Int, Some("4194304"), "Stats push: the on-disk cache (DATA_DIR/stats/stats.jsonl) never grows past this; the oldest snapshots are dropped and counted."),
    key("stats.ca_file", Ty::Str, None, "Stats push: PEM certificates to trust besides the built-in web roots. Verification stays on."),
    key("agent.id", Ty::Str, None, "This agent's id on uplinks: letters, digits, '.', '_', '-'. Default: generated on first start into DATA_DIR/agent_id."),
    key("uplink.ws.url", Ty::Str, None, "WebSocket (Phoenix Channels) control plane. http(s):// becomes ws(s)://; a bare host becomes wss://HOST/socket/websocket. Unset: no WebSocket uplink."),
    Key { secret: true, ..key("uplink.ws.token", Ty::Str, None, "Token sent in the Phoenix join payload.") },
    key("uplink.ws.insecure", Ty::Bool, Some("false"), "Allow plain ws:// (no TLS). Refused otherwise."),
    key("uplink.ws.pin_sha256", Ty::Str, None, "Accept only a server certificate with this SHA-256 fingerprint (hex, colons optional), in place of CA validation."),
    key("uplink.mqtt.url", Ty::Str, None, "MQTT uplink broker, mqtt://HOST:PORT or mqtts://HOST:PORT; or several, comma-separated (the nodes of a cluster, all of one scheme): the agent uses one at a time, starting at an offset derived from its id, and moves to the next when a connection fails or ends. Unset: no MQTT uplink."),
    key("uplink.mqtt.username", Ty::Str, None, "MQTT username."),
    Key { secret: true, ..key("uplink.mqtt.password", Ty::Str, None, "MQTT password.") },
    key("uplink.mqtt.pool", Ty::Str, None, "Also take jobs from the shared subscription $share/POOL/outpost/pool/POOL/jobs."),
    key("uplink.mqtt.keepalive_secs", Ty::Int, Some("30"), "MQTT keep-alive; a broker silent for 1.5x this is declared dead."),
    key("uplink.mqtt.protocol", Ty::Str, Some("\"3.1.1\""), "MQTT protocol version: 3.1.1 or 5."),
    key("uplink.mqtt.ca_file", Ty::Str, None, "mqtts: PEM certificates to trust besides the system roots (a private broker's CA). Verification stays on."),
    key("uplink.mqtt.client_cert", Ty::Str, None, "mqtts: PEM certificate chain presented to brokers that authenticate clients by certificate."),
    key("uplink.mqtt.client_key", Ty::Str, None, "mqtts: PEM private key of uplink.mqtt.client_cert."),
    key("uplink.window", Ty::Int, Some("512"), "Outbox rows sent and not yet acknowledged, at most, per uplink."),
    key("uplink.heartbeat_ms", Ty::Int, Some("15000"), "Application heartbeat period."),
    key("uplink.read_timeout_ms", Ty::Int, Some("45000"), "A peer silent this long is declared dead and the uplink reconnects."),
    key("uplink.backoff_initial_ms", Ty::Int, Some("1000"), "First reconnect delay ceiling; doubles per failure, with full jitter. Also the Reagent session's reconnects."),
    key("uplink.backoff_max_ms", Ty::Int, Some("60000"), "Reconnect delay ceiling cap."),
    key("uplink.backoff_reset_ms", Ty::Int, Some("30000"), "A connection up this long resets the backoff."),
    key("snmp.max_pdus_per_second", Ty::Int, None, "Engine-wide SNMP rate: datagrams per second across all targets, retransmissions included. Unset: no limit, or 200 while the Towerops adapter is on (its agent's limit); 0: no limit."),
    key("trap.enabled", Ty::Bool, Some("false"), "Receive SNMP traps and informs (also TRAP_ENABLED)."),
    key("trap.port", Ty::Int, Some("162"), "UDP port for traps and informs (also TRAP_PORT); an address in trap.listen may name its own."),
    key("trap.listen", Ty::Str, Some("\"0.0.0.0, ::\""), "Comma-separated addresses to receive on, IPv4 and IPv6, each optionally ADDR:PORT or [V6]:PORT."),
    Key { secret: true, ..key("trap.communities", Ty::Str, Some("\"public\""), "Comma-separated v1/v2c communities accepted; * accepts any. Never logged.") },
    key("trap.allowed_networks", Ty::Str, Some("\"0.0.0.0/0, ::/0\""), "Comma-separated source networks (CIDR) accepted; others are dropped and counted."),
    Key { secret: true, ..key("trap.v3_users", Ty::Str, None, "Comma-separated v3 users NAME:ENGINE_ID:AUTH:AUTHPASS:PRIV:PRIVPASS (ENGINE_ID hex or * for any; AUTH/PRIV may be left off for lower levels).") },
    key("trap.recv_buffer_bytes", Ty::Int, Some("8388608"), "Socket receive buffer (SO_RCVBUF, forced past rmem_max when root): bursts wait here, not in the kernel's drop counter."),
    key("trap.queue_capacity", Ty::Int, Some("65536"), "Notifications decoded and waiting for the store, at most; beyond it they are dropped and counted."),
    key("trap.log", Ty::Bool, Some("true"), "One snmptrapd-style line per notification at info level (community never logged)."),
    key("trap.mib_names", Ty::Bool, Some("false"), "Add MIB names (built-in IETF MIBs) to events: trap_name and each varbind's name, e.g. IF-MIB::linkDown. Costs CPU and row size per trap."),
    key("runtime.worker_threads", Ty::Int, Some("1"), "Threads running the agent's async work (API, uplinks, polling). The store, the trap receiver and /proc scans have threads of their own, so one suits most hosts; more spreads very heavy polling over more cores, at some CPU cost per job."),
    key("exec.enabled", Ty::Bool, Some("false"), "Run allowlisted commands: the `exec` job kind, over the commands in the config file's `[commands.NAME]` tables. Every attempt is audited in DATA_DIR/audit.log."),
    key("exec.scripts_dir", Ty::Str, None, "Scripts runnable by name (sh, bash, python3): regular files owned by root or the agent, not writable by others."),
    key("exec.allow_inline", Ty::Bool, Some("false"), "Accept scripts sent in the request itself. Logged at warn on every start while on."),
    key("exec.user", Ty::Str, Some("\"nobody\""), "Who commands run as when the agent runs as root and the command names no user."),
    key("compat.rusty.listen", Ty::Str, None, "rusty_agent drop-in API (its /agent/... routes over HTTPS with Basic auth), e.g. 0.0.0.0:20140, rusty_agent's port. Unset: off."),
    key("compat.rusty.user", Ty::Str, Some("\"Admin\""), "rusty_agent API: the Basic auth user name."),
    Key { secret: true, ..key("compat.rusty.password_hash", Ty::Str, None, "rusty_agent API: the password's hash, bcrypt ($2b$/$2y$, as in rusty_agent's user_creds) or argon2id ($argon2id$). Required when compat.rusty.listen is set: there is no default password.") },
    key("compat.rusty.tls_cert", Ty::Str, None, "rusty_agent API: PEM certificate chain. Default: the self-signed certificate generated into DATA_DIR/rusty/tls/."),
    key("compat.rusty.tls_key", Ty::Str, None, "rusty_agent API: PEM private key for compat.rusty.tls_cert."),
    key("compat.rusty.insecure_plaintext", Ty::Bool, Some("false"), "rusty_agent API: serve plain HTTP (credentials in clear). Logged at warn on every start while on."),
    key("socketman.config", Ty::Str, None, "SocketMan drop-in: the path of SocketMan's config.json (as `outpost run --socketman-config`); its broker, topics and jobs are taken over. Unset: off."),
    key("socketman.allow_shell", Ty::Bool, Some("false"), "SocketMan drop-in: run a job's meta.msg that names no allowlisted command in a shell, as SocketMan did (needs exec.allow_inline). Logged at warn on every start while on; every run is audited."),
    key("socketman.init_url", Ty::Str, None, "SocketMan drop-in: the init server (SocketMan's `-b`, as `outpost run -b`). With it, a missing or invalid socketman.config, or a 401 from the stats collector, is provisioned: GET URL?mac&machine&firmware until a valid config arrives, saved atomically with mode 0600. Unset: no provisioning."),
    key("socketman.mac_file", Ty::Str, Some("\"/etc/mac\""), "SocketMan drop-in: the MAC file (XX-XX-XX-XX-XX-XX) read when provisioning, before any config.json names one."),
    key("reagent.config", Ty::Str, None, "Reagent (IronFlock) drop-in: the path of the device's .flock (as `outpost run --reagent-config`); its WAMP session (wampcra, realm1) and re.mgmt.<serial>.* procedures are taken over. Unset: off."),
    key("reagent.heartbeat_ms", Ty::Int, Some("30000"), "Reagent drop-in: the period of the update_device_status heartbeat (Reagent's 30 s). Two failed in a row force a reconnect."),
    key("reagent.app_backoff_ms", Ty::Int, Some("5000"), "Reagent drop-in: a crashed app is restarted after this × n² (n: its deaths since it last ran stable, 60 × containers.restart_backoff_ms), at most an hour apart (Reagent's crash-loop backoff)."),
    key("reagent.reboot_command", Ty::Str, None, "Reagent drop-in: the [commands.NAME] entry system_reboot runs (through the exec allowlist, audited). Unset: system_reboot is refused."),
    key("reagent.shutdown_command", Ty::Str, None, "Reagent drop-in: the [commands.NAME] entry system_shutdown runs (through the exec allowlist, audited). Unset: system_shutdown is refused."),
    key("reagent.restart_agent_command", Ty::Str, None, "Reagent drop-in: the [commands.NAME] entry system_restart_agent runs (through the exec allowlist, audited). Unset: system_restart_agent is refused."),
    key("reagent.terminal_command", Ty::Str, None, "Reagent drop-in: the [commands.NAME] entry (in_containers = true) a container terminal session (request/start_terminal_session) runs with a TTY, through the exec allowlist, audited. Unset: terminals are refused."),
    key("reagent.terminal_idle_ms", Ty::Int, Some("900000"), "Reagent drop-in: a terminal session without input this long is closed."),
    key("reagent.allow_host_terminal", Ty::Bool, Some("false"), "Reagent drop-in: register init_device_terminal (Reagent's root shell on the host). Not implemented: true is refused."),
    key("reagent.device_log_file", Ty::Str, None, "Reagent drop-in: the agent's own log file query_device_logs reads (its last 4 MiB). Unset: query_device_logs is refused."),
    key("sink.opensearch.url", Ty::Str, None, "OpenSearch sink: results and events sent with the _bulk API to this https:// URL (http:// to loopback only), from their own outbox cursor. Unset: off."),
    key("sink.opensearch.index", Ty::Str, Some("\"outpost\""), "OpenSearch sink: the index documents go to."),
    key("sink.opensearch.user", Ty::Str, None, "OpenSearch sink: Basic auth user."),
    Key { secret: true, ..key("sink.opensearch.password", Ty::Str, None, "OpenSearch sink: Basic auth password.") },
    key("sink.opensearch.ca_file", Ty::Str, None, "OpenSearch sink: PEM certificates to trust besides the built-in web roots. Verification stays on."),
    key("sink.opensearch.batch_max", Ty::Int, Some("500"), "OpenSearch sink: outbox rows per _bulk request, at most."),
    key("secrets.key_file", Ty::Str, None, "The 256-bit key that seals stored secrets (32 bytes, or 64 hex digits; also OUTPOST_SECRET_KEY_FILE, e.g. a systemd credential). Default: DATA_DIR/secret.key, generated on first start (mode 0600)."),
    key("connectivity.enabled", Ty::Bool, Some("false"), "Connectivity monitor: probe the uplink (default route, DNS, TCP, HTTP) on a period, expose its state on GET /v1/connectivity and /metrics, store a `connectivity` event on each change, and run the recovery ladder when offline."),
    key("connectivity.period_ms", Ty::Int, Some("30000"), "Connectivity: between probe rounds while online."),
    key("connectivity.degraded_period_ms", Ty::Int, Some("5000"), "Connectivity: between probe rounds while degraded or offline, or while a changed result is confirmed."),
    key("connectivity.timeout_ms", Ty::Int, Some("5000"), "Connectivity: each probe's timeout."),
    key("connectivity.fall", Ty::Int, Some("2"), "Connectivity: failures in a row before a probe counts as down (one lost probe does not flap the state)."),
    key("connectivity.rise", Ty::Int, Some("2"), "Connectivity: successes in a row before a probe that was down counts as up."),
    key("connectivity.route", Ty::Bool, Some("true"), "Connectivity: probe for a default route (IPv4 or IPv6)."),
    key("connectivity.dns_name", Ty::Str, Some("\"example.com\""), "Connectivity: the name the DNS probe resolves (A record). Empty: no DNS probe."),
    key("connectivity.dns_server", Ty::Str, None, "Connectivity: the resolver the DNS probe asks, IP[:PORT]. Default: the first nameserver of /etc/resolv.conf, read at each round."),
    key("connectivity.tcp_target", Ty::Str, None, "Connectivity: IP:PORT the TCP probe connects to. Default: port 53 of the resolver."),
    key("connectivity.http_url", Ty::Str, None, "Connectivity: http(s) URL the HTTP probe GETs (TLS verified; any answer below 500 is up). Unset: no HTTP probe."),
    key("connectivity.ca_file", Ty::Str, None, "Connectivity: PEM certificates the HTTPS probe trusts instead of the system roots (as check.http's ca_file; an absolute path). Verification stays on."),
    key("connectivity.recovery.steps", Ty::Str, Some("\"\""), "Connectivity: the recovery ladder, comma-separated names of [commands.NAME] entries (needs exec.enabled), tried in order while offline, e.g. \"hook, restart_network, reboot\". Empty: no recovery."),
    key("connectivity.recovery.reboot", Ty::Str, Some("\"reboot\""), "Connectivity: the step that reboots, held to min_reboot_interval_secs."),
    key("connectivity.recovery.initial_delay_ms", Ty::Int, Some("5000"), "Connectivity: wait before the first step once offline; doubles after each step."),
    key("connectivity.recovery.max_delay_ms", Ty::Int, Some("600000"), "Connectivity: the longest wait between steps (the last step repeats at it)."),
    key("connectivity.recovery.min_reboot_interval_secs", Ty::Int, Some("3600"), "Connectivity: no reboot step within this long of the last one, remembered across reboots in DATA_DIR/connectivity/reboot.stamp."),
    key("connectivity.recovery.boot_grace_secs", Ty::Int, Some("300"), "Connectivity: no recovery step within this long after the system booted."),
    key("connectivity.recovery.reboot_after_offline_ms", Ty::Int, Some("0"), "Connectivity: the reboot step is not taken before the uplink has been offline this long; the time restarts when the uplink comes back. 0: no such hold. With socketman.config: SocketMan's `reboot` seconds."),
    key("connectivity.recovery.dry_run", Ty::Bool, Some("false"), "Connectivity: audit and emit what the ladder would run, and run nothing."),
    key("containers.enabled", Ty::Bool, Some("true"), "Containers: serve the container.* and image.* job kinds. The engine's socket is opened by the first such job, never at start."),
    key("containers.socket", Ty::Str, None, "Containers: the engine's Unix socket (Docker, or Podman's Docker-compatible service). Default: DOCKER_HOST when it is unix://PATH, else /var/run/docker.sock."),
    key("containers.allow_privileged", Ty::Bool, Some("false"), "Containers: allow privileged containers; refused (code refused) otherwise."),
    key("containers.call_timeout_ms", Ty::Int, Some("30000"), "Containers: the longest one engine call may take (also bounded by the job's deadline); past it the job fails with engine_unavailable."),
    key("containers.logs_max_lines", Ty::Int, Some("10000"), "Containers: lines a container.logs history returns at most (the rest are counted as dropped)."),
    key("containers.logs_max_lines_per_sec", Ty::Int, Some("200"), "Containers: lines per second a followed log (container.logs with follow) sends as events at most; the rest are dropped and counted in /metrics."),
    key("containers.apps_dir", Ty::Str, None, "Containers: a directory of Compose files (*.yml, *.yaml) declaring apps, read at start (app name: the file's name: else its stem); a bad file is logged with its line and skipped. An app.apply of the same name wins until the file changes."),
    key("containers.restart_backoff_ms", Ty::Int, Some("10000"), "Containers: the first delay before a declared app's service that died is restarted; it doubles on each death (at most 30 times the first) and resets after 10 minutes up."),
    // Container figures on /metrics and the disk guard (issue 15 §4, §5).
    key("containers.metrics", Ty::Bool, Some("false"), "Containers: on /metrics, the running containers' figures (cAdvisor's names) even before any container job connected the engine. Off: they appear once a container job has connected it, so an agent with no container use never opens the socket on a scrape."),
    key("containers.metrics_max_containers", Ty::Int, Some("100"), "Containers: running containers /metrics shows at most (by name); the rest are counted in outpost_container_metrics_dropped."),
    key("containers.metrics_timeout_ms", Ty::Int, Some("5000"), "Containers: the longest a scrape waits for the engine (it answers stats on its next collection tick, about a second); past it /metrics is served without container figures and the failure counted."),
    key("containers.disk_guard_pct", Ty::Int, Some("10"), "Containers: below this percent of free space on the engine's data root, a containers.disk_low event is stored, stopped containers labelled outpost.app and dangling images are pruned, and image.pull is refused (disk_full) until space returns. 0: off."),
    key("containers.disk_guard_interval_secs", Ty::Int, Some("300"), "Containers: how often the disk guard looks at the data root while the engine is connected (it also looks when a pull starts)."),
    key("update.url", Ty::Str, None, "Self-update: the https base URL of the signed release manifests; a channel's manifest is URL/CHANNEL.json, signed in URL/CHANNEL.json.minisig. Unset: `outpost update` has no source."),
    key("update.channel", Ty::Str, Some("\"stable\""), "Self-update: the release channel followed (stable, beta, ...)."),
    key("update.public_keys", Ty::Str, None, "Self-update: comma-separated minisign public keys (the base64 line of a .pub file) trusted besides the release key compiled in. A manifest signed by any other key needs a rotation statement signed by a trusted one (URL/keys/KEYID.json)."),
    key("update.ca_file", Ty::Str, None, "Self-update: PEM certificates to trust besides the built-in web roots, for a private update server. Verification stays on."),
    key("update.probation_ms", Ty::Int, Some("120000"), "Self-update: how long a new version has, from its first start, to prove healthy (store open, API serving, every configured uplink connected); otherwise the previous binary comes back by itself."),
    key("update.check_interval_secs", Ty::Int, Some("0"), "Self-update: every this many seconds, an agent.update job checks the channel and applies what it offers (probation and rollback as for any update). 0: off; otherwise at least 10."),
    key("update.allow_unsigned_checksum", Ty::Bool, Some("false"), "Self-update: accept an agent.update job that names only a URL and a SHA-256 (Towerops' update), without a signed manifest. Off: such a job is refused. On: logged at warn on every such update."),
    key("shutdown.grace_ms", Ty::Int, Some("10000"), "On SIGTERM/SIGINT, how long running jobs may take to finish before they are interrupted."),
    key("shutdown.intake_ms", Ty::Int, Some("5000"), "Shutdown's first phase: how long the trap receiver may take to store what it read."),
    key("shutdown.egress_ms", Ty::Int, Some("3000"), "Shutdown's phase after the drain: how long uplinks and the stats push may take to send and close."),
    key("shutdown.serve_ms", Ty::Int, Some("3000"), "Shutdown's last phase: how long open API connections may take to finish."),
    key("shutdown.store_ms", Ty::Int, Some("5000"), "After the phases: how long closing the store may take."),
];

/// Environment variables that name a key outside the `OUTPOST_A_B_C` rule, for
/// compatibility with the agents Outpost replaces. The rule's own name wins over an alias.
pub const ALIASES: &[(&str, &str)] = &[
    ("OUTPOST_TOKEN", "api.token"),
    ("OUTPOST_SECRET_KEY_FILE", "secrets.key_file"),
    ("LOG_LEVEL", "log.level"),
    ("TRAP_ENABLED", "trap.enabled"),
    ("TRAP_PORT", "trap.port"),
    // The Towerops agent's names (issue 17).
    ("TOWEROPS_LOG_LEVEL", "log.level"),
    ("TOWEROPS_LOG_FORMAT", "log.format"),
    ("LOG_FORMAT", "log.format"),
    ("TOWEROPS_TRAP_ENABLED", "trap.enabled"),
    ("TOWEROPS_TRAP_PORT", "trap.port"),
];

pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// `api.listen` -> `OUTPOST_API_LISTEN`.
pub fn env_name(key: &str) -> String {
    format!("OUTPOST_{}", key.replace('.', "_").to_uppercase())
}
