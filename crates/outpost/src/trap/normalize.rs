//! One accepted notification in normal form, whatever version carried it, and its event
//! payload. The community travels in the payload (the outbox is not a log) but never in a
//! log line.

use std::net::SocketAddr;

use outpost_snmp::mib::{Mib, Named};
use outpost_snmp::{Oid, TrapV1Pdu, Value, VarBind};
use secrecy::{ExposeSecret, SecretSlice};
use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// sysUpTime.0
const SYS_UPTIME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
/// snmpTrapOID.0
const SNMP_TRAP_OID: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0];

/// Trap or inform: the event kinds `snmp.trap` and `snmp.inform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Trap,
    Inform,
}

impl Kind {
    pub fn event_kind(self) -> &'static str {
        match self {
            Kind::Trap => "snmp.trap",
            Kind::Inform => "snmp.inform",
        }
    }
}

/// Who sent it, as far as security goes.
#[derive(Debug)]
pub enum Sender {
    /// v1 or v2c community (secret: never logged).
    Community(SecretSlice<u8>),
    /// v3 USM user, its engine ID, the security level and the context.
    User {
        name: String,
        engine_id: Vec<u8>,
        level: &'static str,
        context_name: Vec<u8>,
    },
}

/// A notification, decoded and accepted by the filter.
#[derive(Debug)]
pub struct Notification {
    /// Trap or inform.
    pub kind: Kind,
    /// UDP source.
    pub source: SocketAddr,
    /// "1", "2c" or "3".
    pub version: &'static str,
    /// Community or user.
    pub sender: Sender,
    /// The v1 trap fields, for v1 traps.
    pub v1: Option<V1Fields>,
    /// snmpTrapOID: the second varbind of v2 forms, the RFC 3584 translation for v1.
    pub trap_oid: Option<Oid>,
    /// sysUpTime in hundredths of a second: the first varbind, or the v1 timestamp.
    pub uptime: Option<u32>,
    /// request-id (not in v1 traps).
    pub request_id: Option<i32>,
    /// Every varbind as received.
    pub varbinds: Vec<VarBind>,
}

/// The fields a v1 Trap-PDU carries outside its varbinds.
#[derive(Debug)]
pub struct V1Fields {
    pub enterprise: Oid,
    pub agent_addr: [u8; 4],
    pub generic_trap: i32,
    pub specific_trap: i32,
    pub timestamp: u32,
}

impl Notification {
    pub fn from_v1(source: SocketAddr, community: SecretSlice<u8>, t: TrapV1Pdu) -> Self {
        let trap_oid = t.snmp_trap_oid();
        Notification {
            kind: Kind::Trap,
            source,
            version: "1",
            sender: Sender::Community(community),
            uptime: Some(t.timestamp),
            trap_oid: Some(trap_oid),
            request_id: None,
            v1: Some(V1Fields {
                enterprise: t.enterprise,
                agent_addr: t.agent_addr,
                generic_trap: t.generic_trap,
                specific_trap: t.specific_trap,
                timestamp: t.timestamp,
            }),
            varbinds: t.varbinds,
        }
    }

    /// A v2c/v3 TrapV2 or Inform PDU.
    pub fn from_v2(
        kind: Kind,
        source: SocketAddr,
        version: &'static str,
        sender: Sender,
        request_id: i32,
        varbinds: Vec<VarBind>,
    ) -> Self {
        let uptime = varbinds.iter().find_map(|vb| match &vb.value {
            Value::TimeTicks(t) if vb.oid.as_slice() == SYS_UPTIME => Some(*t),
            _ => None,
        });
        let trap_oid = varbinds.iter().find_map(|vb| match &vb.value {
            Value::ObjectId(o) if vb.oid.as_slice() == SNMP_TRAP_OID => Some(o.clone()),
            _ => None,
        });
        Notification {
            kind,
            source,
            version,
            sender,
            v1: None,
            trap_oid,
            uptime,
            request_id: Some(request_id),
            varbinds,
        }
    }

    /// The event payload, serialized straight to JSON text: no tree of values is built, so
    /// a trap costs one pass of formatting. Varbinds carry their typed value and net-snmp's
    /// `-On` text.
    pub fn payload(&self) -> Box<RawValue> {
        self.payload_named(None)
    }

    /// The payload, with `trap_name` and each varbind's `name` from `mib` if given.
    pub fn payload_named(&self, mib: Option<&Mib>) -> Box<RawValue> {
        // Serializing these types cannot fail (string keys, no maps of other keys); null
        // keeps this total all the same.
        serde_json::value::to_raw_value(&PayloadJson::new(self, mib))
            .unwrap_or_else(|_| RawValue::NULL.to_owned())
    }
}

/// The payload's shape, borrowed from the notification. Absent parts are left out.
#[derive(Serialize)]
struct PayloadJson<'a> {
    source: SocketAddr,
    version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    community: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    engine_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    security_level: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context_name: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    v1: Option<V1Json<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trap_oid: Option<&'a Oid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trap_name: Option<Name<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uptime: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<i32>,
    varbinds: Vec<VarbindJson<'a>>,
}

#[derive(Serialize)]
struct V1Json<'a> {
    enterprise: &'a Oid,
    agent_addr: String,
    generic_trap: i32,
    specific_trap: i32,
    timestamp: u32,
}

struct VarbindJson<'a>(&'a VarBind, Option<&'a Mib>);

impl Serialize for VarbindJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("oid", &self.0.oid)?;
        if let Some(mib) = self.1 {
            m.serialize_entry("name", &Name(mib.named(&self.0.oid)))?;
        }
        m.serialize_entry("value", &self.0.value)?;
        // Formatted straight into the output, without a String of its own.
        m.serialize_entry("text", &Text(&self.0.value))?;
        m.end()
    }
}

/// A MIB name, formatted straight into the output.
struct Name<'a>(Named<'a>);

impl Serialize for Name<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

struct Text<'a>(&'a Value);

impl Serialize for Text<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self.0)
    }
}

impl<'a> PayloadJson<'a> {
    fn new(n: &'a Notification, mib: Option<&'a Mib>) -> Self {
        let mut p = PayloadJson {
            source: n.source,
            version: n.version,
            community: None,
            user: None,
            engine_id: None,
            security_level: None,
            context_name: None,
            v1: n.v1.as_ref().map(|v1| {
                let [a, b, c, d] = v1.agent_addr;
                V1Json {
                    enterprise: &v1.enterprise,
                    agent_addr: format!("{a}.{b}.{c}.{d}"),
                    generic_trap: v1.generic_trap,
                    specific_trap: v1.specific_trap,
                    timestamp: v1.timestamp,
                }
            }),
            trap_oid: n.trap_oid.as_ref(),
            trap_name: mib.zip(n.trap_oid.as_ref()).map(|(m, o)| Name(m.named(o))),
            uptime: n.uptime,
            request_id: n.request_id,
            varbinds: n.varbinds.iter().map(|vb| VarbindJson(vb, mib)).collect(),
        };
        match &n.sender {
            Sender::Community(c) => p.community = Some(String::from_utf8_lossy(c.expose_secret())),
            Sender::User {
                name,
                engine_id,
                level,
                context_name,
            } => {
                p.user = Some(name);
                p.engine_id = Some(hex(engine_id));
                p.security_level = Some(level);
                p.context_name = Some(String::from_utf8_lossy(context_name));
            }
        }
        p
    }
}

pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}
