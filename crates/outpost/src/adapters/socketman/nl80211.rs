//! A decoder of the kernel's nl80211 replies into SocketMan's Wi-Fi arrays (`ssids[]`,
//! `stations[]`, `survey[]`: ../shared/compat/socketman.md §5, assembled in
//! [`super::wifi`]); the matching encoder, for fixtures and the round-trip property, is
//! [`super::nl80211_write`].
//!
//! The layout is the kernel's (netlink(7) and the uapi header `linux/nl80211.h`):
//! each message is a 16-byte `nlmsghdr` (length, type, flags, sequence, port id; host
//! byte order), a 4-byte `genlmsghdr` (command, version, reserved), then attributes,
//! each a 4-byte `nlattr` (length including the header, type) and its payload padded to
//! 4 bytes. The type's top two bits are flags (`NLA_F_NESTED`, `NLA_F_NET_BYTEORDER`).
//! The constants below are the header's enum values (checked against
//! /usr/include/linux/nl80211.h: `NL80211_CMD_NEW_STATION` = 19, `NL80211_ATTR_STA_INFO`
//! = 21, ...). These bytes come from the kernel, but a decoder of outside bytes is
//! written as one: every length is checked, nothing panics (fuzz target
//! `socketman_nl80211`), and an attribute of the wrong size is skipped, not trusted.

pub use super::nl80211_write::{mac_bytes, Attrs, Writer};
pub use super::wifi::{wifi, Ssid, Station, SurveyEntry};

// Netlink message types (netlink(7)).
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
const NLA_TYPE_MASK: u16 = 0x3fff;
pub const NLA_F_NESTED: u16 = 0x8000;

// enum nl80211_commands
pub const CMD_NEW_INTERFACE: u8 = 7;
pub const CMD_NEW_STATION: u8 = 19;
pub const CMD_NEW_SCAN_RESULTS: u8 = 34;
pub const CMD_NEW_SURVEY_RESULTS: u8 = 51;

// enum nl80211_attrs
pub const ATTR_WIPHY: u16 = 1;
pub const ATTR_IFINDEX: u16 = 3;
pub const ATTR_IFNAME: u16 = 4;
pub const ATTR_MAC: u16 = 6;
pub const ATTR_STA_INFO: u16 = 21;
pub const ATTR_WIPHY_FREQ: u16 = 38;
pub const ATTR_BSS: u16 = 47;
pub const ATTR_SSID: u16 = 52;
pub const ATTR_SURVEY_INFO: u16 = 84;
pub const ATTR_WIPHY_TX_POWER_LEVEL: u16 = 98;

// enum nl80211_sta_info
pub const STA_INACTIVE_TIME: u16 = 1;
pub const STA_RX_BYTES: u16 = 2;
pub const STA_TX_BYTES: u16 = 3;
pub const STA_SIGNAL: u16 = 7;
pub const STA_TX_BITRATE: u16 = 8;
pub const STA_RX_PACKETS: u16 = 9;
pub const STA_TX_PACKETS: u16 = 10;
pub const STA_TX_RETRIES: u16 = 11;
pub const STA_TX_FAILED: u16 = 12;
pub const STA_SIGNAL_AVG: u16 = 13;
pub const STA_RX_BITRATE: u16 = 14;
pub const STA_CONNECTED_TIME: u16 = 16;
pub const STA_STA_FLAGS: u16 = 17;
pub const STA_BEACON_LOSS: u16 = 18;
pub const STA_T_OFFSET: u16 = 19;
pub const STA_RX_BYTES64: u16 = 23;
pub const STA_TX_BYTES64: u16 = 24;
pub const STA_EXPECTED_THROUGHPUT: u16 = 27;
pub const STA_BEACON_RX: u16 = 29;
pub const STA_BEACON_SIGNAL_AVG: u16 = 30;

// enum nl80211_rate_info
pub const RATE_BITRATE: u16 = 1;
pub const RATE_MCS: u16 = 2;
pub const RATE_BITRATE32: u16 = 5;

// enum nl80211_sta_flags (bit numbers in struct nl80211_sta_flag_update's mask and set)
pub const FLAG_AUTHORIZED: u32 = 1;
pub const FLAG_SHORT_PREAMBLE: u32 = 2;
pub const FLAG_WME: u32 = 3;
pub const FLAG_MFP: u32 = 4;
pub const FLAG_AUTHENTICATED: u32 = 5;
pub const FLAG_TDLS_PEER: u32 = 6;
pub const FLAG_ASSOCIATED: u32 = 7;

// enum nl80211_survey_info
pub const SURVEY_FREQUENCY: u16 = 1;
pub const SURVEY_NOISE: u16 = 2;
pub const SURVEY_IN_USE: u16 = 3;

// enum nl80211_bss
pub const BSS_BSSID: u16 = 1;
pub const BSS_FREQUENCY: u16 = 2;
pub const BSS_CAPABILITY: u16 = 5;
pub const BSS_INFORMATION_ELEMENTS: u16 = 6;
pub const BSS_SIGNAL_MBM: u16 = 7;
pub const BSS_SEEN_MS_AGO: u16 = 10;

/// iwinfo's scale for `quality`: signal + 110, clamped to 0..=70.
pub const QUALITY_MAX: i32 = 70;

/// Bytes that are not a well-formed netlink reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("netlink message at byte {at}: {what}")]
    Message { at: usize, what: &'static str },
    #[error("attribute at byte {at}: {what}")]
    Attr { at: usize, what: &'static str },
    #[error("the kernel answered error {0}")]
    Kernel(i32),
}

/// One generic-netlink message: its command and its attribute bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg<'a> {
    pub cmd: u8,
    pub attrs: &'a [u8],
}

/// Splits a dump (several messages, ending with `NLMSG_DONE` or not) into its messages.
pub fn messages(buf: &[u8]) -> Result<Vec<Msg<'_>>, DecodeError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let bad = |what| DecodeError::Message { at, what };
        let head = buf.get(at..at + 16).ok_or(bad("shorter than its header"))?;
        let len = u32::from_ne_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let ty = u16::from_ne_bytes([head[4], head[5]]);
        if len < 16 {
            return Err(bad("length below the header's"));
        }
        let body = buf
            .get(at + 16..at + len)
            .ok_or(bad("length past the end"))?;
        match ty {
            NLMSG_DONE => break,
            NLMSG_ERROR => {
                let code = body
                    .get(..4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .ok_or(bad("error message without a code"))?;
                // An error message with code 0 is an acknowledgement.
                if code != 0 {
                    return Err(DecodeError::Kernel(code));
                }
            }
            _ => {
                let cmd = *body.first().ok_or(bad("no generic netlink header"))?;
                let attrs = body.get(4..).ok_or(bad("no generic netlink header"))?;
                out.push(Msg { cmd, attrs });
            }
        }
        at += align(len);
    }
    Ok(out)
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// The attributes in `buf`: `(type without flags, payload)`.
pub fn attrs(buf: &[u8]) -> Result<Vec<(u16, &[u8])>, DecodeError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= buf.len() {
        let len = u16::from_ne_bytes([buf[at], buf[at + 1]]) as usize;
        let ty = u16::from_ne_bytes([buf[at + 2], buf[at + 3]]) & NLA_TYPE_MASK;
        if len < 4 {
            return Err(DecodeError::Attr {
                at,
                what: "length below the header's",
            });
        }
        let payload = buf.get(at + 4..at + len).ok_or(DecodeError::Attr {
            at,
            what: "length past the end",
        })?;
        out.push((ty, payload));
        at += align(len);
    }
    Ok(out)
}

fn find<'a>(list: &[(u16, &'a [u8])], ty: u16) -> Option<&'a [u8]> {
    list.iter().find(|(t, _)| *t == ty).map(|(_, p)| *p)
}

fn u8_of(p: Option<&[u8]>) -> Option<u8> {
    match p? {
        [b] => Some(*b),
        _ => None,
    }
}

fn u16_of(p: Option<&[u8]>) -> Option<u16> {
    p?.try_into().ok().map(u16::from_ne_bytes)
}

fn u32_of(p: Option<&[u8]>) -> Option<u32> {
    p?.try_into().ok().map(u32::from_ne_bytes)
}

fn u64_of(p: Option<&[u8]>) -> Option<u64> {
    p?.try_into().ok().map(u64::from_ne_bytes)
}

fn mac_of(p: Option<&[u8]>) -> Option<String> {
    let b: [u8; 6] = p?.try_into().ok()?;
    Some(
        b.iter()
            .map(|x| format!("{x:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// A C string or raw SSID bytes as text (lossy; a trailing NUL dropped).
fn text_of(p: Option<&[u8]>) -> Option<String> {
    let p = p?;
    let p = p.strip_suffix(&[0]).unwrap_or(p);
    Some(String::from_utf8_lossy(p).into_owned())
}

/// The channel number of a frequency in MHz (2.4, 5 and 6 GHz bands).
pub fn channel(freq: u32) -> u32 {
    match freq {
        2484 => 14,
        2407..=2483 => (freq - 2407) / 5,
        5000..=5924 => (freq - 5000) / 5,
        5950..=7125 => (freq - 5950) / 5,
        _ => 0,
    }
}

pub(crate) fn quality(signal: i32) -> i32 {
    (signal + 110).clamp(0, QUALITY_MAX)
}

/// An interface from `NL80211_CMD_GET_INTERFACE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    pub ifindex: u32,
    pub name: String,
    pub wiphy: u32,
    pub bssid: String,
    pub ssid: String,
    pub frequency: Option<u32>,
    /// mBm (dBm × 100).
    pub tx_power_mbm: Option<u32>,
}

/// A station as the kernel reports it, before it is named after its interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawStation {
    pub ifindex: u32,
    pub mac: String,
    pub inactive_time: u32,
    pub rx_packets: u32,
    pub tx_packets: u32,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub beacon_rx: u64,
    pub tx_retries: u32,
    pub tx_failed: u32,
    pub beacon_loss: u32,
    pub signal: i8,
    pub signal_avg: i8,
    pub beacon_signal_avg: i8,
    pub t_offset: u64,
    /// In 100 kbit/s, as the kernel counts.
    pub tx_bitrate: u32,
    pub rx_bitrate: u32,
    pub mcs: Option<u8>,
    /// Bits set in the kernel's `nl80211_sta_flag_update.set` (masked).
    pub flags: u32,
    pub conn_time: u32,
    pub expected_tput: u32,
}

/// A channel's survey from `NL80211_CMD_GET_SURVEY`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Survey {
    pub ifindex: u32,
    pub frequency: u32,
    pub noise: Option<i8>,
    pub in_use: bool,
}

/// The interfaces in a `GET_INTERFACE` dump.
pub fn interfaces(buf: &[u8]) -> Result<Vec<Interface>, DecodeError> {
    let mut out = Vec::new();
    for m in messages(buf)?
        .into_iter()
        .filter(|m| m.cmd == CMD_NEW_INTERFACE)
    {
        let a = attrs(m.attrs)?;
        let Some(ifindex) = u32_of(find(&a, ATTR_IFINDEX)) else {
            continue;
        };
        out.push(Interface {
            ifindex,
            name: text_of(find(&a, ATTR_IFNAME)).unwrap_or_default(),
            wiphy: u32_of(find(&a, ATTR_WIPHY)).unwrap_or_default(),
            bssid: mac_of(find(&a, ATTR_MAC)).unwrap_or_default(),
            ssid: text_of(find(&a, ATTR_SSID)).unwrap_or_default(),
            frequency: u32_of(find(&a, ATTR_WIPHY_FREQ)),
            tx_power_mbm: u32_of(find(&a, ATTR_WIPHY_TX_POWER_LEVEL)),
        });
    }
    Ok(out)
}

/// `(bitrate in 100 kbit/s, mcs)` from a nested `nl80211_rate_info`.
fn rate(p: Option<&[u8]>) -> Result<(u32, Option<u8>), DecodeError> {
    let Some(p) = p else { return Ok((0, None)) };
    let a = attrs(p)?;
    let rate = u32_of(find(&a, RATE_BITRATE32))
        .or_else(|| u16_of(find(&a, RATE_BITRATE)).map(u32::from))
        .unwrap_or(0);
    Ok((rate, u8_of(find(&a, RATE_MCS))))
}

/// The stations in a `GET_STATION` dump.
pub fn stations(buf: &[u8]) -> Result<Vec<RawStation>, DecodeError> {
    let mut out = Vec::new();
    for m in messages(buf)?
        .into_iter()
        .filter(|m| m.cmd == CMD_NEW_STATION)
    {
        let a = attrs(m.attrs)?;
        let (Some(mac), Some(info)) = (mac_of(find(&a, ATTR_MAC)), find(&a, ATTR_STA_INFO)) else {
            continue;
        };
        let i = attrs(info)?;
        let s8 = |t| u8_of(find(&i, t)).map_or(0, |v| v as i8);
        let u32v = |t| u32_of(find(&i, t)).unwrap_or(0);
        let (tx_bitrate, mcs) = rate(find(&i, STA_TX_BITRATE))?;
        let (rx_bitrate, _) = rate(find(&i, STA_RX_BITRATE))?;
        let flags = find(&i, STA_STA_FLAGS)
            .filter(|p| p.len() == 8)
            .map_or(0, |p| {
                let mask = u32::from_ne_bytes([p[0], p[1], p[2], p[3]]);
                let set = u32::from_ne_bytes([p[4], p[5], p[6], p[7]]);
                mask & set
            });
        out.push(RawStation {
            ifindex: u32_of(find(&a, ATTR_IFINDEX)).unwrap_or(0),
            mac,
            inactive_time: u32v(STA_INACTIVE_TIME),
            rx_packets: u32v(STA_RX_PACKETS),
            tx_packets: u32v(STA_TX_PACKETS),
            // The 64-bit counters when the kernel sends them (SocketMan: "if > 0").
            rx_bytes: u64_of(find(&i, STA_RX_BYTES64))
                .filter(|v| *v > 0)
                .unwrap_or(u64::from(u32v(STA_RX_BYTES))),
            tx_bytes: u64_of(find(&i, STA_TX_BYTES64))
                .filter(|v| *v > 0)
                .unwrap_or(u64::from(u32v(STA_TX_BYTES))),
            beacon_rx: u64_of(find(&i, STA_BEACON_RX)).unwrap_or(0),
            tx_retries: u32v(STA_TX_RETRIES),
            tx_failed: u32v(STA_TX_FAILED),
            beacon_loss: u32v(STA_BEACON_LOSS),
            signal: s8(STA_SIGNAL),
            signal_avg: s8(STA_SIGNAL_AVG),
            beacon_signal_avg: s8(STA_BEACON_SIGNAL_AVG),
            t_offset: u64_of(find(&i, STA_T_OFFSET)).unwrap_or(0),
            tx_bitrate,
            rx_bitrate,
            mcs,
            flags,
            conn_time: u32v(STA_CONNECTED_TIME),
            expected_tput: u32v(STA_EXPECTED_THROUGHPUT),
        });
    }
    Ok(out)
}

/// The channels in a `GET_SURVEY` dump.
pub fn surveys(buf: &[u8]) -> Result<Vec<Survey>, DecodeError> {
    let mut out = Vec::new();
    for m in messages(buf)?
        .into_iter()
        .filter(|m| m.cmd == CMD_NEW_SURVEY_RESULTS)
    {
        let a = attrs(m.attrs)?;
        let Some(info) = find(&a, ATTR_SURVEY_INFO) else {
            continue;
        };
        let i = attrs(info)?;
        let Some(frequency) = u32_of(find(&i, SURVEY_FREQUENCY)) else {
            continue;
        };
        out.push(Survey {
            ifindex: u32_of(find(&a, ATTR_IFINDEX)).unwrap_or(0),
            frequency,
            noise: u8_of(find(&i, SURVEY_NOISE)).map(|n| n as i8),
            in_use: find(&i, SURVEY_IN_USE).is_some(),
        });
    }
    Ok(out)
}

/// iwinfo's style of naming a BSS's security, from its capability and elements: "none",
/// "WEP", "WPA PSK", "WPA2 PSK", "mixed WPA/WPA2 PSK" (802.1X: "... 802.1X").
fn encryption(capability: u16, ies: &[u8]) -> String {
    let (mut wpa, mut rsn, mut enterprise) = (false, false, false);
    let mut at = 0;
    while at + 2 <= ies.len() {
        let (id, len) = (ies[at], ies[at + 1] as usize);
        let Some(body) = ies.get(at + 2..at + 2 + len) else {
            break;
        };
        match id {
            48 => {
                rsn = true;
                enterprise |= akm_is_8021x(body.get(2..));
            }
            221 if body.starts_with(&[0x00, 0x50, 0xf2, 0x01]) => {
                wpa = true;
                enterprise |= akm_is_8021x(body.get(4..));
            }
            _ => {}
        }
        at += 2 + len;
    }
    let auth = if enterprise { "802.1X" } else { "PSK" };
    match (wpa, rsn) {
        (true, true) => format!("mixed WPA/WPA2 {auth}"),
        (false, true) => format!("WPA2 {auth}"),
        (true, false) => format!("WPA {auth}"),
        // The privacy bit without WPA elements is WEP.
        _ if capability & 0x0010 != 0 => "WEP".into(),
        _ => "none".into(),
    }
}

/// Whether an RSN/WPA element body (after its version) lists AKM suite 1 (802.1X).
fn akm_is_8021x(body: Option<&[u8]>) -> bool {
    let Some(b) = body else { return false };
    // group cipher (4), pairwise count (2) + 4 each, AKM count (2) + 4 each
    let Some(pc) = b
        .get(4..6)
        .map(|c| u16::from_le_bytes([c[0], c[1]]) as usize)
    else {
        return false;
    };
    let at = 6 + pc * 4;
    let Some(ac) = b
        .get(at..at + 2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]) as usize)
    else {
        return false;
    };
    (0..ac).any(|k| b.get(at + 2 + k * 4 + 3) == Some(&1))
}

/// The neighbours in a `GET_SCAN` dump.
pub fn scan(buf: &[u8]) -> Result<Vec<SurveyEntry>, DecodeError> {
    let mut out = Vec::new();
    for m in messages(buf)?
        .into_iter()
        .filter(|m| m.cmd == CMD_NEW_SCAN_RESULTS)
    {
        let a = attrs(m.attrs)?;
        let Some(bss) = find(&a, ATTR_BSS) else {
            continue;
        };
        let b = attrs(bss)?;
        let Some(mac) = mac_of(find(&b, BSS_BSSID)) else {
            continue;
        };
        let ies = find(&b, BSS_INFORMATION_ELEMENTS).unwrap_or(&[]);
        let ssid = ie(ies, 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default();
        let frequency = u32_of(find(&b, BSS_FREQUENCY)).unwrap_or(0);
        let signal = u32_of(find(&b, BSS_SIGNAL_MBM)).map_or(0, |m| m as i32 / 100);
        out.push(SurveyEntry {
            mac,
            channel: channel(frequency),
            ssid,
            encryption: encryption(u16_of(find(&b, BSS_CAPABILITY)).unwrap_or(0), ies),
            signal,
            quality: quality(signal),
            quality_max: QUALITY_MAX,
            frequency,
            last_seen: u32_of(find(&b, BSS_SEEN_MS_AGO)).unwrap_or(0),
        });
    }
    Ok(out)
}

/// The body of information element `id`.
fn ie(ies: &[u8], id: u8) -> Option<&[u8]> {
    let mut at = 0;
    while at + 2 <= ies.len() {
        let len = ies[at + 1] as usize;
        let body = ies.get(at + 2..at + 2 + len)?;
        if ies[at] == id {
            return Some(body);
        }
        at += 2 + len;
    }
    None
}
