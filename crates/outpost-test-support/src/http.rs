//! The server side of one HTTP/1.1 request, for the collectors tests run in place of a real
//! one (the stats push's target, over plain TCP or TLS): read exactly one request, head and
//! body, then answer with [`reply`]. Enough HTTP for a client that sends `content-length`.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request line and headers, lowercased, without the blank line ending them.
    pub head: String,
    /// The request line and headers as sent (header values such as Basic credentials are
    /// case-sensitive).
    pub raw_head: String,
    /// Exactly `content-length` bytes of body.
    pub body: Vec<u8>,
}

/// Reads one request from `sock`; `None` if the client closed or failed first.
pub async fn read_request<S: AsyncRead + Unpin>(sock: &mut S) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let raw_head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let head = raw_head.to_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        if buf.len() >= end + 4 + len {
            let body = buf[end + 4..end + 4 + len].to_vec();
            return Some(Request {
                head,
                raw_head,
                body,
            });
        }
    }
}

/// Answers `status` with an empty body and closes the connection.
pub async fn reply<S: AsyncWrite + Unpin>(sock: &mut S, status: u16) {
    let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = sock.write_all(resp.as_bytes()).await;
    let _ = sock.shutdown().await;
}
