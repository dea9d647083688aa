//! Recorded nl80211 dumps (issue 18): an access point with two SSIDs, three clients,
//! two surveyed channels and two neighbours, as the kernel writes them (the adapter's
//! encoder). Shared by the decoder's suite (issue18_wifi) and the netlink exchange's
//! (issue18_genl).
#![allow(dead_code, clippy::unwrap_used)]

use outpost::adapters::socketman::nl80211::{self as nl, Attrs, Writer};

/// The four dumps of an access point with two SSIDs, three clients and two neighbours.
pub fn fixture() -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let iface = |a: &mut Attrs, idx: u32, name: &str, ssid: &str, mac: [u8; 6], freq: u32| {
        a.u32(nl::ATTR_IFINDEX, idx)
            .cstr(nl::ATTR_IFNAME, name)
            .u32(nl::ATTR_WIPHY, idx - 5)
            .bytes(nl::ATTR_MAC, &mac)
            .bytes(nl::ATTR_SSID, ssid.as_bytes())
            .u32(nl::ATTR_WIPHY_FREQ, freq)
            .u32(nl::ATTR_WIPHY_TX_POWER_LEVEL, 2000);
    };
    let ifaces = Writer::new()
        .message(nl::CMD_NEW_INTERFACE, |a| {
            iface(a, 5, "wlan0", "Cafe", [0x60, 0xe3, 0x27, 0, 0, 1], 2437)
        })
        .message(nl::CMD_NEW_INTERFACE, |a| {
            iface(a, 6, "wlan1", "Cafe-5G", [0x60, 0xe3, 0x27, 0, 0, 2], 5180)
        })
        .done();
    let sta = |a: &mut Attrs, idx: u32, last: u8, signal: i8, flags: u32| {
        a.u32(nl::ATTR_IFINDEX, idx)
            .bytes(nl::ATTR_MAC, &[0xa4, 0x5e, 0x60, 0xaa, 0xbb, last])
            .nest(nl::ATTR_STA_INFO, |i| {
                i.u32(nl::STA_INACTIVE_TIME, 40)
                    .u32(nl::STA_RX_BYTES, 1000)
                    .u64(nl::STA_RX_BYTES64, 5_000_000_000)
                    .u32(nl::STA_TX_BYTES, 2000)
                    .u32(nl::STA_RX_PACKETS, 11)
                    .u32(nl::STA_TX_PACKETS, 12)
                    .u32(nl::STA_TX_RETRIES, 3)
                    .u32(nl::STA_TX_FAILED, 1)
                    .u32(nl::STA_BEACON_LOSS, 0)
                    .u8(nl::STA_SIGNAL, signal as u8)
                    .u8(nl::STA_SIGNAL_AVG, (signal - 1) as u8)
                    .nest(nl::STA_TX_BITRATE, |r| {
                        r.u32(nl::RATE_BITRATE32, 1733).u8(nl::RATE_MCS, 9);
                    })
                    .nest(nl::STA_RX_BITRATE, |r| {
                        r.u16(nl::RATE_BITRATE, 540);
                    })
                    .u32(nl::STA_CONNECTED_TIME, 600)
                    .u32(nl::STA_EXPECTED_THROUGHPUT, 40000)
                    .u64(nl::STA_BEACON_RX, 77)
                    // struct nl80211_sta_flag_update { mask, set }
                    .bytes(
                        nl::STA_STA_FLAGS,
                        &[&0xfeu32.to_ne_bytes()[..], &flags.to_ne_bytes()[..]].concat(),
                    );
            });
    };
    let all = (1 << nl::FLAG_AUTHORIZED)
        | (1 << nl::FLAG_AUTHENTICATED)
        | (1 << nl::FLAG_ASSOCIATED)
        | (1 << nl::FLAG_WME)
        | (1 << nl::FLAG_SHORT_PREAMBLE);
    let stations = Writer::new()
        .message(nl::CMD_NEW_STATION, |a| sta(a, 5, 1, -50, all))
        .message(nl::CMD_NEW_STATION, |a| {
            sta(a, 5, 2, -70, 1 << nl::FLAG_AUTHENTICATED)
        })
        .message(nl::CMD_NEW_STATION, |a| {
            sta(a, 6, 3, -60, all | (1 << nl::FLAG_MFP))
        })
        .done();
    let surveys = Writer::new()
        .message(nl::CMD_NEW_SURVEY_RESULTS, |a| {
            a.u32(nl::ATTR_IFINDEX, 5).nest(nl::ATTR_SURVEY_INFO, |s| {
                s.u32(nl::SURVEY_FREQUENCY, 2412)
                    .u8(nl::SURVEY_NOISE, (-90i8) as u8);
            });
        })
        .message(nl::CMD_NEW_SURVEY_RESULTS, |a| {
            a.u32(nl::ATTR_IFINDEX, 5).nest(nl::ATTR_SURVEY_INFO, |s| {
                s.u32(nl::SURVEY_FREQUENCY, 2437)
                    .u8(nl::SURVEY_NOISE, (-95i8) as u8)
                    .flag(nl::SURVEY_IN_USE);
            });
        })
        .done();
    // Information elements: SSID (0), and for the second an RSN element (48) with one
    // pairwise suite and AKM 00-0F-AC:2 (PSK).
    let rsn: &[u8] = &[
        48, 20, 1, 0, 0, 0x0f, 0xac, 4, 1, 0, 0, 0x0f, 0xac, 4, 1, 0, 0, 0x0f, 0xac, 2, 0, 0,
    ];
    let bss = |a: &mut Attrs, last: u8, ssid: &str, freq: u32, mbm: i32, cap: u16, extra: &[u8]| {
        let mut ies = vec![0, ssid.len() as u8];
        ies.extend_from_slice(ssid.as_bytes());
        ies.extend_from_slice(extra);
        a.u32(nl::ATTR_IFINDEX, 5).nest(nl::ATTR_BSS, |b| {
            b.bytes(nl::BSS_BSSID, &[0x00, 0x11, 0x32, 0, 0, last])
                .u32(nl::BSS_FREQUENCY, freq)
                .u16(nl::BSS_CAPABILITY, cap)
                .bytes(nl::BSS_INFORMATION_ELEMENTS, &ies)
                .u32(nl::BSS_SIGNAL_MBM, mbm as u32)
                .u32(nl::BSS_SEEN_MS_AGO, 1500);
        });
    };
    let scan = Writer::new()
        .message(nl::CMD_NEW_SCAN_RESULTS, |a| {
            bss(a, 1, "Neighbour", 2462, -7100, 0x0001, &[])
        })
        .message(nl::CMD_NEW_SCAN_RESULTS, |a| {
            bss(a, 2, "Office", 5745, -4500, 0x0011, rsn)
        })
        .done();
    (ifaces, stations, surveys, scan)
}
