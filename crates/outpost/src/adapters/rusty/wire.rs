//! rusty_agent's JSON shapes (written from the wire reference in
//! ../shared/compat/rusty_agent.md; our own definitions). Field names and types are the
//! wire; what the values mean on Outpost is documented where they are filled.

use serde::{Deserialize, Serialize};

/// `ExecResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecResponse {
    pub success: bool,
    pub message: String,
}

/// `POST /agent/heartbeat`.
#[derive(Debug, Clone, Deserialize)]
pub struct Heartbeat {
    pub id: String,
}

/// `POST /agent/command/execute`: `command` is standard base64 of a command line.
#[derive(Debug, Clone, Deserialize)]
pub struct CommandRequest {
    pub command: String,
}

/// One `PUT /agent/config` item (the body is an array of them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyChange {
    #[serde(rename = "propertyName")]
    pub property_name: String,
    #[serde(rename = "propertyValue")]
    pub property_value: String,
}

/// `PUT /agent/config/auto_upgrade`.
#[derive(Debug, Clone, Deserialize)]
pub struct AutoUpgrade {
    pub command: bool,
}

/// `PUT /agent/userpassword/update` (refused; read so a bad body still gets axum's codes).
#[derive(Debug, Clone, Deserialize)]
pub struct PasswordUpdate {
    #[allow(dead_code)]
    pub name: String,
    #[allow(dead_code)]
    pub pass: String,
}

/// `PUT /agent/version` (refused likewise).
#[derive(Debug, Clone, Deserialize)]
pub struct VersionChange {
    #[allow(dead_code)]
    pub file_name_version: String,
}

/// `ScriptRequest`: every field required, as rusty_agent's serde struct has them.
/// `content` is base64 for `POST`/`PUT /agent/job`, raw text for `/agent/job/execute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptRequest {
    pub script_name: String,
    pub content: String,
    pub arguments: String,
    pub cron_expression: String,
    pub script_type: u64,
    pub async_exec: bool,
    pub opensearch_index: String,
    pub opensearch_enabled: bool,
}

/// `GET /agent/jobs?name=N`: one saved job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptView {
    pub script_name: String,
    pub content: String,
    pub arguments: String,
    pub cron_expression: String,
    pub script_type: u64,
    pub opensearch_index: String,
    pub opensearch_enabled: bool,
}

/// `GET /agent/version`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionView {
    pub version: String,
    pub version_valid: bool,
    pub build_date: String,
}

/// `GET /agent/metric`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricResponse {
    pub memory: f32,
    pub cpu_usage: f32,
    pub rust_version: String,
    pub os_name: String,
    pub kernel_version: String,
    pub os_version: String,
    pub disk_usage: f32,
    pub up_time: u64,
    pub port: u16,
    pub jobs: Vec<String>,
}

/// `AgentConfig`: 19 keys, eleven of which rusty_agent always left at their defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AgentConfig {
    pub cron_agent_checksum: String,
    pub opensearch_prod_domain_endpoint: String,
    pub cron_agent_config_monitoring: String,
    pub agent_id: u16,
    pub script_execution_allowed_path: String,
    pub cron_agent_autoupgrade_check: String,
    pub cron_agent_discovery: String,
    pub logging_file_name: String,
    pub cron_agent_health_discovery: String,
    pub checksum_downloadbatch_slot_max_download: u16,
    pub checksum_downloadbatch_slot_minute: u16,
    pub opensearch_non_prod_domain_endpoint: String,
    pub opensearch_non_prod_user_name: String,
    pub opensearch_non_prod_pass_word: String,
    pub version: String,
    pub auto_upgrade: bool,
    pub port: u16,
    pub install_dir: String,
    pub rust_install_path: String,
}

/// `agent_details` inside `GET /agent/info`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentDetails {
    pub version: String,
    pub vm_hostname: String,
    pub vm_ip: String,
    pub install_dir: String,
    pub rust_version: String,
    pub os_version: String,
    pub port: u16,
    pub pid: u32,
    pub up_time: u64,
    pub memory: f32,
    pub cpu_usage: f32,
    pub disk_usage: f32,
}

/// `agent_local_config` inside `GET /agent/info`: the keys rusty_agent let operators
/// modify (`can_modify = 1`): `auto_upgrade` and the port; the OpenSearch ones stay empty.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AgentLocalConfig {
    pub opensearch_non_prod_domain_endpoint: String,
    pub opensearch_non_prod_user_name: String,
    pub opensearch_non_prod_pass_word: String,
    pub auto_upgrade: bool,
    pub port: u16,
}

/// `GET /agent/info`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentInfo {
    pub agent_details: AgentDetails,
    pub agent_config: AgentConfig,
    pub agent_local_config: AgentLocalConfig,
    pub jobs: Vec<String>,
}

/// The OpenSearch password as the config routes show it: never in clear.
pub const REDACTED: &str = "REDACTED";
