//! SocketMan's Wi-Fi arrays read from the kernel: the `nl80211` family resolved through
//! `nlctrl`, then dumps of `GET_INTERFACE`, `GET_STATION` and `GET_SURVEY` per interface
//! and, with `survey` on, `GET_SCAN` per interface (the kernel's last scan results:
//! SocketMan triggered a scan every pass, which takes an access point's radio off its
//! channel and its clients with it; here the results some other scan left are read). Each
//! reply goes through [`super::genl`]'s checks and [`super::nl80211`]'s decoder.
//!
//! A kernel without Wi-Fi has no `nl80211` family: the arrays are empty, as SocketMan sent
//! them on a device without a radio, and that is said once, not on every pass. A socket
//! is opened per pass and closed after it: nothing is held between passes.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use super::collect::Wifi;
use super::genl::{GenlError, Limits, Socket, NLM_F_DUMP};
use super::nl80211::{self as nl, ATTR_IFINDEX};
use super::nl80211_write::Attrs;

// enum nl80211_commands (the requests; the replies' numbers are in `nl80211`)
pub const CMD_GET_INTERFACE: u8 = 5;
pub const CMD_GET_STATION: u8 = 17;
pub const CMD_GET_SCAN: u8 = 32;
pub const CMD_GET_SURVEY: u8 = 50;

/// How long one exchange with the kernel may take.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Interfaces read per pass (SocketMan's buffers held about 11).
const MAX_INTERFACES: usize = 32;
/// One dump's bound: far above an access point's clients or a scan's neighbours.
const DUMP: Limits = Limits {
    messages: 1024,
    bytes: 4 * 1024 * 1024,
};

/// What the last pass found, so that only a change is logged (0: no pass yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Seen {
    Read = 1,
    Absent = 2,
    Failed = 3,
}

/// The reader: stateless but for what it last logged.
#[derive(Debug, Default)]
pub struct WifiReader {
    seen: AtomicU8,
}

impl WifiReader {
    /// SocketMan's arrays now: empty without nl80211 or when the kernel fails to answer
    /// (logged on a change of state, not every pass).
    pub async fn read(&self, survey: bool) -> Wifi {
        // The socket blocks (with a deadline on every receive): off the async threads.
        let pass = tokio::task::spawn_blocking(move || read(survey))
            .await
            .unwrap_or_else(|e| Err(GenlError::Socket(std::io::Error::other(e.to_string()))));
        let (seen, wifi) = match pass {
            Ok(Some(w)) => (Seen::Read, w),
            Ok(None) => (Seen::Absent, Wifi::default()),
            Err(e) => {
                if self.seen.swap(Seen::Failed as u8, Ordering::Relaxed) != Seen::Failed as u8 {
                    tracing::warn!(error = %e, "socketman: reading Wi-Fi from nl80211 failed; the arrays are sent empty until it works");
                }
                return Wifi::default();
            }
        };
        let before = self.seen.swap(seen as u8, Ordering::Relaxed);
        if before != seen as u8 {
            match seen {
                Seen::Absent => tracing::info!(
                    "socketman: this kernel has no nl80211 (no Wi-Fi driver): ssids, stations and survey are sent empty"
                ),
                _ => tracing::debug!(
                    ssids = wifi.ssids.len(),
                    stations = wifi.stations.len(),
                    "socketman: Wi-Fi read from nl80211"
                ),
            }
        }
        wifi
    }
}

/// One pass: `None` when the kernel has no `nl80211`.
pub fn read(survey: bool) -> Result<Option<Wifi>, GenlError> {
    let mut sock = Socket::open(TIMEOUT)?;
    let Some(family) = sock.family("nl80211")? else {
        return Ok(None);
    };
    let none = Attrs::default();
    let dump = sock.exchange(family, NLM_F_DUMP, CMD_GET_INTERFACE, &none, DUMP)?;
    let mut ifaces = nl::interfaces(&dump)?;
    ifaces.truncate(MAX_INTERFACES);
    let (mut stations, mut surveys, mut neighbours) = (Vec::new(), Vec::new(), Vec::new());
    for i in &ifaces {
        let mut on = Attrs::default();
        on.u32(ATTR_IFINDEX, i.ifindex);
        // An interface that is down or not an AP answers with an error: it has nothing to
        // report, which is not a failure of the pass.
        let per_iface = |r: Result<Vec<u8>, GenlError>| match r {
            Ok(b) => Ok(b),
            Err(GenlError::Kernel(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
        let b = per_iface(sock.exchange(family, NLM_F_DUMP, CMD_GET_STATION, &on, DUMP))?;
        stations.extend(nl::stations(&b)?);
        let b = per_iface(sock.exchange(family, NLM_F_DUMP, CMD_GET_SURVEY, &on, DUMP))?;
        surveys.extend(nl::surveys(&b)?);
        if survey {
            let b = per_iface(sock.exchange(family, NLM_F_DUMP, CMD_GET_SCAN, &on, DUMP))?;
            neighbours.extend(nl::scan(&b)?);
        }
    }
    Ok(Some(nl::wifi(&ifaces, &stations, &surveys, neighbours)))
}
