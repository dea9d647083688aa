//! A decoder of the kernel's nl80211 replies into SocketMan's Wi-Fi arrays (`ssids[]`,
//! `stations[]`, `survey[]`: ../shared/compat/socketman.md §5), and the matching encoder
//! the fixtures and the round-trip property are built with.
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

use serde::Serialize;

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

fn quality(signal: i32) -> i32 {
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

/// `ssids[]`: one per interface.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ssid {
    pub interface: String,
    pub channel: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<i32>,
    pub bitrate: u64,
    pub quality_max: i32,
    pub bssid: String,
    pub ssid: String,
    pub tx_power: i32,
}

/// `stations[]`: one per client (packet and byte counts are JSON doubles, as SocketMan's).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Station {
    pub interface: String,
    pub ssid: String,
    pub mac: String,
    pub inactive_time: u32,
    pub rx_packets: f64,
    pub tx_packets: f64,
    pub rx_bytes: f64,
    pub tx_bytes: f64,
    pub beacon_rx: u64,
    pub tx_retries: u32,
    pub tx_failed: u32,
    pub beacon_loss: u32,
    pub signal: i32,
    pub signal_avg: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beacon_signal_avg: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t_offset: Option<u64>,
    /// kbit/s (the kernel's 100 kbit/s units × 100).
    pub tx_bitrate: u64,
    pub rx_bitrate: u64,
    pub authorized: bool,
    pub authenticated: bool,
    pub associated: bool,
    pub wmm: bool,
    pub mfp: bool,
    pub tdls: bool,
    pub preamble: &'static str,
    pub conn_time: u32,
    pub expected_tput: u32,
    pub mcs: u8,
}

/// `survey[]`: a neighbour access point from a scan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurveyEntry {
    pub mac: String,
    pub channel: u32,
    pub ssid: String,
    pub encryption: String,
    pub signal: i32,
    pub quality: i32,
    pub quality_max: i32,
    pub frequency: u32,
    pub last_seen: u32,
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

/// SocketMan's arrays from the four dumps: stations named after their interface and
/// SSID, each interface's noise and frequency from its in-use survey channel, its signal
/// and quality the average of its stations'.
pub fn wifi(
    ifaces: &[Interface],
    raw: &[RawStation],
    surveys: &[Survey],
    neighbours: Vec<SurveyEntry>,
) -> super::collect::Wifi {
    let bit = |s: &RawStation, f: u32| s.flags & (1 << f) != 0;
    let mut stations = Vec::new();
    for s in raw {
        let iface = ifaces.iter().find(|i| i.ifindex == s.ifindex);
        stations.push(Station {
            interface: iface.map(|i| i.name.clone()).unwrap_or_default(),
            ssid: iface.map(|i| i.ssid.clone()).unwrap_or_default(),
            mac: s.mac.clone(),
            inactive_time: s.inactive_time,
            rx_packets: f64::from(s.rx_packets),
            tx_packets: f64::from(s.tx_packets),
            rx_bytes: s.rx_bytes as f64,
            tx_bytes: s.tx_bytes as f64,
            beacon_rx: s.beacon_rx,
            tx_retries: s.tx_retries,
            tx_failed: s.tx_failed,
            beacon_loss: s.beacon_loss,
            signal: i32::from(s.signal),
            signal_avg: i32::from(s.signal_avg),
            beacon_signal_avg: (s.beacon_signal_avg != 0).then_some(i32::from(s.beacon_signal_avg)),
            t_offset: (s.t_offset > 0).then_some(s.t_offset),
            tx_bitrate: u64::from(s.tx_bitrate) * 100,
            rx_bitrate: u64::from(s.rx_bitrate) * 100,
            authorized: bit(s, FLAG_AUTHORIZED),
            authenticated: bit(s, FLAG_AUTHENTICATED),
            associated: bit(s, FLAG_ASSOCIATED),
            wmm: bit(s, FLAG_WME),
            mfp: bit(s, FLAG_MFP),
            tdls: bit(s, FLAG_TDLS_PEER),
            preamble: if bit(s, FLAG_SHORT_PREAMBLE) {
                "short"
            } else {
                "long"
            },
            conn_time: s.conn_time,
            expected_tput: s.expected_tput,
            mcs: s.mcs.unwrap_or(0),
        });
    }
    let ssids = ifaces
        .iter()
        .map(|i| {
            let mine: Vec<&RawStation> = raw.iter().filter(|s| s.ifindex == i.ifindex).collect();
            let used = surveys.iter().find(|s| s.ifindex == i.ifindex && s.in_use);
            let signal = (!mine.is_empty())
                .then(|| mine.iter().map(|s| i32::from(s.signal)).sum::<i32>() / mine.len() as i32);
            let bitrate = if mine.is_empty() {
                0
            } else {
                mine.iter().map(|s| u64::from(s.tx_bitrate)).sum::<u64>() / mine.len() as u64 * 100
            };
            let frequency = used.map(|s| s.frequency).or(i.frequency);
            Ssid {
                interface: i.name.clone(),
                channel: frequency.map_or(0, channel),
                noise: used.and_then(|s| s.noise).map(i32::from),
                frequency,
                signal,
                quality: signal.map(quality),
                bitrate,
                quality_max: QUALITY_MAX,
                bssid: i.bssid.clone(),
                ssid: i.ssid.clone(),
                tx_power: i.tx_power_mbm.map_or(0, |m| m as i32 / 100),
            }
        })
        .collect();
    super::collect::Wifi {
        ssids,
        survey: neighbours,
        stations,
    }
}

/// Builds netlink messages as the kernel writes them: the fixtures' encoder, and the
/// other half of the round-trip property.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    /// Appends one generic-netlink message of `cmd` whose attributes `attrs` writes.
    pub fn message(&mut self, cmd: u8, attrs: impl FnOnce(&mut Attrs)) -> &mut Writer {
        let mut a = Attrs::default();
        attrs(&mut a);
        let len = 16 + 4 + a.0.len();
        self.buf.extend_from_slice(&(len as u32).to_ne_bytes());
        // The family id is assigned at run time; the decoder does not read it.
        self.buf.extend_from_slice(&0x1cu16.to_ne_bytes());
        self.buf.extend_from_slice(&0x2u16.to_ne_bytes()); // NLM_F_MULTI
        self.buf.extend_from_slice(&1u32.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&[cmd, 1, 0, 0]);
        self.buf.extend_from_slice(&a.0);
        self
    }

    /// Ends the dump with `NLMSG_DONE` and returns the bytes.
    pub fn done(&mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&20u32.to_ne_bytes());
        self.buf.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        self.buf.extend_from_slice(&0x2u16.to_ne_bytes());
        self.buf.extend_from_slice(&1u32.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        std::mem::take(&mut self.buf)
    }
}

/// A message's attributes being written.
#[derive(Debug, Default, Clone)]
pub struct Attrs(Vec<u8>);

impl Attrs {
    pub fn bytes(&mut self, ty: u16, payload: &[u8]) -> &mut Attrs {
        self.0
            .extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(payload);
        while self.0.len() % 4 != 0 {
            self.0.push(0);
        }
        self
    }
    pub fn u8(&mut self, ty: u16, v: u8) -> &mut Attrs {
        self.bytes(ty, &[v])
    }
    pub fn u16(&mut self, ty: u16, v: u16) -> &mut Attrs {
        self.bytes(ty, &v.to_ne_bytes())
    }
    pub fn u32(&mut self, ty: u16, v: u32) -> &mut Attrs {
        self.bytes(ty, &v.to_ne_bytes())
    }
    pub fn u64(&mut self, ty: u16, v: u64) -> &mut Attrs {
        self.bytes(ty, &v.to_ne_bytes())
    }
    /// A NUL-terminated string, as the kernel writes interface names.
    pub fn cstr(&mut self, ty: u16, s: &str) -> &mut Attrs {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.bytes(ty, &b)
    }
    pub fn flag(&mut self, ty: u16) -> &mut Attrs {
        self.bytes(ty, &[])
    }
    pub fn nest(&mut self, ty: u16, inner: impl FnOnce(&mut Attrs)) -> &mut Attrs {
        let mut a = Attrs::default();
        inner(&mut a);
        self.bytes(ty | NLA_F_NESTED, &a.0)
    }
}

/// Parses a MAC written `AA:BB:…` back to bytes (for the encoder's callers).
pub fn mac_bytes(mac: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}
