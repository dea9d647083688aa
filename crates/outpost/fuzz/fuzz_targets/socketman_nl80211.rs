//! The SocketMan adapter's nl80211 decoder (`adapters/socketman/nl80211.rs`): netlink dumps
//! as the kernel writes them (interfaces, stations, surveys, scan results), decoded into
//! SocketMan's Wi-Fi arrays. None may panic, whatever the bytes; what decodes must
//! serialize, and re-encoding a decoded station list must decode to the same list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost::adapters::socketman::nl80211 as nl;

fuzz_target!(|data: &[u8]| {
    let i = nl::interfaces(data).unwrap_or_default();
    let s = nl::stations(data).unwrap_or_default();
    let v = nl::surveys(data).unwrap_or_default();
    let n = nl::scan(data).unwrap_or_default();
    let wifi = nl::wifi(&i, &s, &v, n);
    assert!(serde_json::to_string(&wifi).is_ok());
    // Round trip: what decoded as stations, written again, decodes the same.
    let mut w = nl::Writer::new();
    for st in &s {
        let Some(mac) = nl::mac_bytes(&st.mac) else {
            panic!("a decoded MAC that does not parse back: {}", st.mac)
        };
        w.message(nl::CMD_NEW_STATION, |a| {
            a.u32(nl::ATTR_IFINDEX, st.ifindex)
                .bytes(nl::ATTR_MAC, &mac)
                .nest(nl::ATTR_STA_INFO, |x| {
                    x.u32(nl::STA_INACTIVE_TIME, st.inactive_time)
                        .u32(nl::STA_RX_PACKETS, st.rx_packets)
                        .u32(nl::STA_TX_PACKETS, st.tx_packets)
                        .u64(nl::STA_RX_BYTES64, st.rx_bytes)
                        .u64(nl::STA_TX_BYTES64, st.tx_bytes)
                        .u64(nl::STA_BEACON_RX, st.beacon_rx)
                        .u32(nl::STA_TX_RETRIES, st.tx_retries)
                        .u32(nl::STA_TX_FAILED, st.tx_failed)
                        .u32(nl::STA_BEACON_LOSS, st.beacon_loss)
                        .u8(nl::STA_SIGNAL, st.signal as u8)
                        .u8(nl::STA_SIGNAL_AVG, st.signal_avg as u8)
                        .u8(nl::STA_BEACON_SIGNAL_AVG, st.beacon_signal_avg as u8)
                        .u64(nl::STA_T_OFFSET, st.t_offset)
                        .nest(nl::STA_TX_BITRATE, |r| {
                            r.u32(nl::RATE_BITRATE32, st.tx_bitrate);
                            if let Some(m) = st.mcs {
                                r.u8(nl::RATE_MCS, m);
                            }
                        })
                        .nest(nl::STA_RX_BITRATE, |r| {
                            r.u32(nl::RATE_BITRATE32, st.rx_bitrate);
                        })
                        .bytes(
                            nl::STA_STA_FLAGS,
                            &[&u32::MAX.to_ne_bytes()[..], &st.flags.to_ne_bytes()[..]].concat(),
                        )
                        .u32(nl::STA_CONNECTED_TIME, st.conn_time)
                        .u32(nl::STA_EXPECTED_THROUGHPUT, st.expected_tput);
                });
        });
    }
    let again = nl::stations(&w.done());
    // A 64-bit byte counter of 0 falls back to the 32-bit one, which is absent: still 0.
    assert_eq!(again.as_ref().ok(), Some(&s));
});
