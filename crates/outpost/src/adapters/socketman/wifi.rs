//! SocketMan's Wi-Fi arrays (`ssids[]`, `stations[]`, `survey[]`:
//! ../shared/compat/socketman.md §5) in its field names, order and JSON types, and their
//! assembly from what [`super::nl80211`] decoded.

use serde::Serialize;

use super::nl80211::{
    channel, quality, Interface, RawStation, Survey, FLAG_ASSOCIATED, FLAG_AUTHENTICATED,
    FLAG_AUTHORIZED, FLAG_MFP, FLAG_SHORT_PREAMBLE, FLAG_TDLS_PEER, FLAG_WME, QUALITY_MAX,
};

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
