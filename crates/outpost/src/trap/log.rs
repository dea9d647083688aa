//! The snmptrapd-style one-line log of a notification (and `outpost traps listen`'s text
//! output). The community is never part of it.

use std::fmt::Write as _;

use super::normalize::{Kind, Notification, Sender};

/// `UDP: [SRC]:PORT v2c TRAP trap_oid=.. uptime=..: OID = TYPE: value<TAB>...`, with
/// varbinds in net-snmp's `-On` text separated by tabs, as snmptrapd logs them.
pub fn line(n: &Notification) -> String {
    let mut s = String::with_capacity(128 + 64 * n.varbinds.len());
    write_line(&mut s, n);
    s
}

/// [`line`], appended to `s` (`traps listen` writes a whole pass's lines into one buffer).
pub fn write_line(s: &mut String, n: &Notification) {
    let _ = write!(
        s,
        "UDP: [{}]:{} v{} {}",
        n.source.ip(),
        n.source.port(),
        n.version,
        match n.kind {
            Kind::Trap => "TRAP",
            Kind::Inform => "INFORM",
        }
    );
    if let Sender::User { name, level, .. } = &n.sender {
        let _ = write!(s, " user={name} level={level}");
    }
    if let Some(v1) = &n.v1 {
        let [a, b, c, d] = v1.agent_addr;
        let _ = write!(
            s,
            " enterprise={} agent={a}.{b}.{c}.{d} generic={} specific={}",
            v1.enterprise, v1.generic_trap, v1.specific_trap
        );
    }
    if let Some(o) = &n.trap_oid {
        let _ = write!(s, " trap_oid={o}");
    }
    if let Some(u) = n.uptime {
        let _ = write!(s, " uptime={u}");
    }
    s.push(':');
    for (i, vb) in n.varbinds.iter().enumerate() {
        s.push(if i == 0 { ' ' } else { '\t' });
        let _ = write!(s, "{vb}");
    }
}
