//! Ephemeral loopback ports for peers. Another process could take a port between the
//! probe and the peer's bind; harnesses then see the peer fail to start and try another.

use std::net::{TcpListener, UdpSocket};

/// A port free right now for UDP on 127.0.0.1 and ::1 and for TCP on 127.0.0.1 (an snmpd
/// serves all three on one port).
pub fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        let ok = TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("::1", port)).is_ok();
        drop(u);
        if ok {
            return port;
        }
    }
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP port free on 127.0.0.1 right now.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
