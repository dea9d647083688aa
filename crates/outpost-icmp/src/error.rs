//! The engine's typed errors. Opening a socket is the one step that fails for reasons the
//! operator must fix (privileges), so its error names both ways in and how to enable each.

use std::io;

use thiserror::Error;

use crate::codec::Family;

#[derive(Debug, Error)]
pub enum IcmpError {
    #[error(
        "cannot open an ICMP socket for {family}: a raw socket needs CAP_NET_RAW ({raw}); \
         grant it with `setcap cap_net_raw+ep /path/to/outpost` (or run as root). \
         An unprivileged ICMP socket needs the process's group in net.ipv4.ping_group_range \
         ({dgram}); allow it with `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`"
    )]
    NotPermitted {
        family: Family,
        raw: io::Error,
        dgram: io::Error,
    },
    #[error("cannot open an ICMP socket for {family}: {source}")]
    Socket {
        family: Family,
        #[source]
        source: io::Error,
    },
    #[error("invalid {field}: {reason}")]
    InvalidParam { field: &'static str, reason: String },
    #[error("the random cookie could not be drawn: {0}")]
    Random(String),
}
