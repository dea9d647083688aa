//! Issue 18: SocketMan's Wi-Fi arrays decoded from nl80211 replies. No radio exists here,
//! so the replies are fixtures: netlink dumps as the kernel writes them (netlink(7) and
//! `linux/nl80211.h`; one written out byte by byte, the rest with the adapter's encoder),
//! decoded into `ssids[]`, `stations[]` and `survey[]`; a property round-trips random
//! stations through encoder and decoder, and cut or corrupted dumps are errors, not panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost::adapters::socketman::nl80211::{self as nl, RawStation, Writer};
use proptest::prelude::*;

mod nl80211_fixture;
use nl80211_fixture::fixture;

/// One `NL80211_CMD_NEW_STATION` message for 02:11:22:33:44:55 on ifindex 5, written out
/// field by field from the header's layout (little-endian host), not by our encoder.
#[rustfmt::skip]
const STATION_BYTES: &[u8] = &[
    // nlmsghdr: len 80, type 0x1c (nl80211's family id here), NLM_F_MULTI, seq 7, pid 0
    80, 0, 0, 0,  0x1c, 0,  2, 0,  7, 0, 0, 0,  0, 0, 0, 0,
    // genlmsghdr: cmd 19 (NEW_STATION), version 1
    19, 1, 0, 0,
    // NL80211_ATTR_IFINDEX (3) u32 5
    8, 0, 3, 0,  5, 0, 0, 0,
    // NL80211_ATTR_MAC (6) 6 bytes + 2 padding
    10, 0, 6, 0,  0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0,
    // NL80211_ATTR_STA_INFO (21 | NLA_F_NESTED) len 40
    40, 0, 21, 0x80,
    //   INACTIVE_TIME (1) u32 1234
    8, 0, 1, 0,  0xd2, 0x04, 0, 0,
    //   SIGNAL (7) u8 -52 (0xcc) + 3 padding
    5, 0, 7, 0,  0xcc, 0, 0, 0,
    //   TX_BITRATE (8 | nested) { BITRATE (1) u16 650 (0x028a) }
    12, 0, 8, 0x80,  6, 0, 1, 0,  0x8a, 0x02, 0, 0,
    //   RX_PACKETS (9) u32 300
    8, 0, 9, 0,  0x2c, 0x01, 0, 0,
    // NLMSG_DONE
];

#[test]
fn issue18_nl80211_station_decoded_from_kernel_layout_bytes() {
    const {
        assert!(
            cfg!(target_endian = "little"),
            "the bytes above are little-endian"
        )
    };
    let s = nl::stations(STATION_BYTES).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].ifindex, 5);
    assert_eq!(s[0].mac, "02:11:22:33:44:55");
    assert_eq!(s[0].inactive_time, 1234);
    assert_eq!(s[0].signal, -52);
    assert_eq!(s[0].tx_bitrate, 650);
    assert_eq!(s[0].rx_packets, 300);
    // Our encoder writes the same bytes for the same station.
    let mut w = Writer::new();
    w.message(nl::CMD_NEW_STATION, |a| {
        a.u32(nl::ATTR_IFINDEX, 5)
            .bytes(nl::ATTR_MAC, &[0x02, 0x11, 0x22, 0x33, 0x44, 0x55])
            .nest(nl::ATTR_STA_INFO, |i| {
                i.u32(nl::STA_INACTIVE_TIME, 1234)
                    .u8(nl::STA_SIGNAL, 0xcc)
                    .nest(nl::STA_TX_BITRATE, |r| {
                        r.u16(nl::RATE_BITRATE, 650);
                    })
                    .u32(nl::STA_RX_PACKETS, 300);
            });
    });
    let bytes = w.done();
    // Sequence numbers differ (ours is 1); everything else is the kernel's layout.
    assert_eq!(bytes[..8], STATION_BYTES[..8]);
    assert_eq!(bytes[12..80], STATION_BYTES[12..80]);
}

#[test]
fn issue18_nl80211_dumps_give_socketmans_wifi_arrays() {
    let (ifaces, stations, surveys, scan) = fixture();
    let i = nl::interfaces(&ifaces).unwrap();
    let s = nl::stations(&stations).unwrap();
    let v = nl::surveys(&surveys).unwrap();
    let n = nl::scan(&scan).unwrap();
    let wifi = nl::wifi(&i, &s, &v, n);
    let j = serde_json::to_value(&wifi).unwrap();

    let ssids = j["ssids"].as_array().unwrap();
    assert_eq!(ssids.len(), 2);
    let w0 = &ssids[0];
    assert_eq!(w0["interface"], "wlan0");
    assert_eq!(w0["ssid"], "Cafe");
    assert_eq!(w0["bssid"], "60:E3:27:00:00:01");
    assert_eq!(
        (w0["channel"].as_u64(), w0["frequency"].as_u64()),
        (Some(6), Some(2437))
    );
    assert_eq!(w0["noise"], -95, "the in-use channel's noise");
    assert_eq!(w0["signal"], -60, "the average of its stations");
    assert_eq!(w0["quality"], 50);
    assert_eq!(w0["quality_max"], 70);
    assert_eq!(w0["tx_power"], 20);
    assert_eq!(w0["bitrate"], 173_300);
    let w1 = &ssids[1];
    assert_eq!(
        (w1["channel"].as_u64(), w1["interface"].as_str()),
        (Some(36), Some("wlan1"))
    );
    assert!(w1.get("noise").is_none(), "no survey for wlan1: {w1}");

    let st = j["stations"].as_array().unwrap();
    assert_eq!(st.len(), 3);
    let a = &st[0];
    assert_eq!(
        (a["interface"].as_str(), a["ssid"].as_str()),
        (Some("wlan0"), Some("Cafe"))
    );
    assert_eq!(a["mac"], "A4:5E:60:AA:BB:01");
    assert!(
        a["rx_bytes"].is_f64() && a["rx_packets"].is_f64(),
        "doubles: {a}"
    );
    assert_eq!(a["rx_bytes"].as_f64(), Some(5e9), "the 64-bit counter");
    assert_eq!(a["tx_bytes"].as_f64(), Some(2000.0));
    assert_eq!(
        (a["signal"].as_i64(), a["signal_avg"].as_i64()),
        (Some(-50), Some(-51))
    );
    assert_eq!(
        (a["tx_bitrate"].as_u64(), a["rx_bitrate"].as_u64()),
        (Some(173_300), Some(54_000))
    );
    assert_eq!(a["mcs"], 9);
    assert_eq!(
        [
            &a["authorized"],
            &a["authenticated"],
            &a["associated"],
            &a["wmm"],
            &a["mfp"],
            &a["tdls"]
        ],
        [true, true, true, true, false, false]
    );
    assert_eq!(a["preamble"], "short");
    assert_eq!(
        (a["conn_time"].as_u64(), a["expected_tput"].as_u64()),
        (Some(600), Some(40000))
    );
    assert_eq!(st[1]["authorized"], false);
    assert_eq!(st[1]["preamble"], "long");
    assert_eq!(st[2]["mfp"], true);
    assert_eq!(st[2]["interface"], "wlan1");

    let sv = j["survey"].as_array().unwrap();
    assert_eq!(sv[0]["ssid"], "Neighbour");
    assert_eq!(sv[0]["encryption"], "none");
    assert_eq!(
        (sv[0]["channel"].as_u64(), sv[0]["signal"].as_i64()),
        (Some(11), Some(-71))
    );
    assert_eq!(sv[0]["quality"], 39);
    assert_eq!(sv[1]["encryption"], "WPA2 PSK");
    assert_eq!(
        (sv[1]["channel"].as_u64(), sv[1]["mac"].as_str()),
        (Some(149), Some("00:11:32:00:00:02"))
    );
    assert_eq!(sv[1]["last_seen"], 1500);
}

#[test]
fn issue18_nl80211_cut_or_corrupt_dumps_are_errors() {
    let (_, stations, _, _) = fixture();
    for cut in [1, 15, 17, 40, stations.len() - 21] {
        assert!(nl::stations(&stations[..cut]).is_err(), "cut at {cut}");
    }
    let mut bad = stations.clone();
    bad[20] = 2; // the first attribute's length below its header
    bad[21] = 0;
    assert!(nl::stations(&bad).is_err());
    // A kernel error reply.
    let mut err = 36u32.to_ne_bytes().to_vec();
    err.extend_from_slice(&nl::NLMSG_ERROR.to_ne_bytes());
    err.extend_from_slice(&[0; 10]);
    err.extend_from_slice(&(-95i32).to_ne_bytes());
    err.extend_from_slice(&[0; 16]);
    assert_eq!(nl::stations(&err), Err(nl::DecodeError::Kernel(-95)));
}

fn station() -> impl Strategy<Value = RawStation> {
    (
        (
            any::<u32>(),
            any::<[u8; 6]>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        ),
        (
            1..u64::MAX,
            any::<u32>(),
            any::<u64>(),
            any::<i8>(),
            any::<i8>(),
        ),
        (
            any::<u16>(),
            any::<u32>(),
            any::<u8>(),
            0u32..256,
            any::<u32>(),
        ),
    )
        .prop_map(
            |(
                (ifindex, mac, inactive, rxp, txp),
                (rxb, tx32, beacon, sig, avg),
                (txr, rxr, mcs, flags, conn),
            )| {
                RawStation {
                    ifindex,
                    mac: mac
                        .iter()
                        .map(|b| format!("{b:02X}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                    inactive_time: inactive,
                    rx_packets: rxp,
                    tx_packets: txp,
                    rx_bytes: rxb,
                    tx_bytes: u64::from(tx32),
                    beacon_rx: beacon,
                    signal: sig,
                    signal_avg: avg,
                    tx_bitrate: u32::from(txr),
                    rx_bitrate: rxr,
                    mcs: Some(mcs),
                    flags: flags & 0xfe,
                    conn_time: conn,
                    ..RawStation::default()
                }
            },
        )
}

fn encode(list: &[RawStation]) -> Vec<u8> {
    let mut w = Writer::new();
    for s in list {
        w.message(nl::CMD_NEW_STATION, |a| {
            a.u32(nl::ATTR_IFINDEX, s.ifindex)
                .bytes(nl::ATTR_MAC, &nl::mac_bytes(&s.mac).unwrap())
                .nest(nl::ATTR_STA_INFO, |i| {
                    i.u32(nl::STA_INACTIVE_TIME, s.inactive_time)
                        .u32(nl::STA_RX_PACKETS, s.rx_packets)
                        .u32(nl::STA_TX_PACKETS, s.tx_packets)
                        .u64(nl::STA_RX_BYTES64, s.rx_bytes)
                        .u32(nl::STA_TX_BYTES, s.tx_bytes as u32)
                        .u64(nl::STA_BEACON_RX, s.beacon_rx)
                        .u8(nl::STA_SIGNAL, s.signal as u8)
                        .u8(nl::STA_SIGNAL_AVG, s.signal_avg as u8)
                        .nest(nl::STA_TX_BITRATE, |r| {
                            r.u16(nl::RATE_BITRATE, s.tx_bitrate as u16)
                                .u8(nl::RATE_MCS, s.mcs.unwrap_or(0));
                        })
                        .nest(nl::STA_RX_BITRATE, |r| {
                            r.u32(nl::RATE_BITRATE32, s.rx_bitrate);
                        })
                        .bytes(
                            nl::STA_STA_FLAGS,
                            &[&0xfeu32.to_ne_bytes()[..], &s.flags.to_ne_bytes()[..]].concat(),
                        )
                        .u32(nl::STA_CONNECTED_TIME, s.conn_time);
                });
        });
    }
    w.done()
}

proptest! {
    #[test]
    fn issue18_nl80211_stations_round_trip(list in proptest::collection::vec(station(), 0..8)) {
        prop_assert_eq!(nl::stations(&encode(&list)).unwrap(), list);
    }

    #[test]
    fn issue18_nl80211_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = nl::stations(&bytes);
        let _ = nl::interfaces(&bytes);
        let _ = nl::surveys(&bytes);
        let _ = nl::scan(&bytes);
    }
}
