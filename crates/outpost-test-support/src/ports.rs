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

/// A UDP socket on `ip` that never answers, and the arrival time of every datagram sent to
/// it: the far side of a pacing or timeout test. Must run inside a tokio runtime; the
/// socket lives until the receiver is dropped.
pub async fn silent_udp(
    ip: &str,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<std::time::Instant>,
) {
    let sock = tokio::net::UdpSocket::bind((ip, 0)).await.unwrap();
    let addr = sock.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while sock.recv_from(&mut buf).await.is_ok() {
            if tx.send(std::time::Instant::now()).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}
