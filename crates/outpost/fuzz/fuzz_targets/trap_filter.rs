//! Every byte of a datagram reaching the trap port: decoding, the community and network
//! filter, v3 user lookup, authentication, decryption and normalization must never panic.
//! (`outpost-snmp`'s own `decode_message` and `open_v3` targets fuzz the codec beneath.)
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use outpost::trap::{config::TrapSection, filter::Filter, TrapSettings};

fn filter() -> &'static Filter {
    static F: OnceLock<Filter> = OnceLock::new();
    F.get_or_init(|| {
        let section: TrapSection = toml::from_str(
            r#"enabled = true
port = 162
listen = "127.0.0.1"
communities = "public"
allowed_networks = "127.0.0.0/8"
v3_users = "trapuser:*:SHA:authpass123:AES:privpass123"
recv_buffer_bytes = 65536
queue_capacity = 16
log = false"#,
        )
        .unwrap();
        let mut s = TrapSettings::from_section(&section, b"\x80\x00\x1f\x88\x04fuzz").unwrap();
        Filter::new(&mut s)
    })
}

fuzz_target!(|data: &[u8]| {
    if let outpost::trap::filter::Decision::Accept(n, _) =
        filter().check(data, "127.0.0.1:40000".parse().unwrap())
    {
        let _ = n.payload();
        let _ = outpost::trap::log::line(&n);
    }
});
