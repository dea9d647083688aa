//! `TOWEROPS_API_URL` as the original reads it: `http`/`ws` → `ws://`, `https`/`wss` or a
//! bare host → `wss://`, trailing slashes trimmed, `/socket/agent/websocket` appended (no
//! query, no `vsn`: the v1 framing is the server's default). Plain `ws://` only when
//! insecure transport is allowed (`TOWEROPS_INSECURE`): the token travels in the join.

/// The socket path every Towerops server serves agents on.
pub const SOCKET_PATH: &str = "/socket/agent/websocket";

/// Why `TOWEROPS_API_URL` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error(
        "unsupported scheme {0:?} in TOWEROPS_API_URL; use https://, wss://, http:// or ws://"
    )]
    Scheme(String),
    #[error("TOWEROPS_API_URL has no host")]
    NoHost,
    #[error("TOWEROPS_API_URL is plain {0}:// (the token would travel in clear); use https:// or set TOWEROPS_INSECURE")]
    Insecure(&'static str),
}

/// The WebSocket URL for `api_url`.
pub fn socket_url(api_url: &str, insecure: bool) -> Result<String, UrlError> {
    let url = api_url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("ws") => ("ws", r),
        Some((s, r)) if s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("wss") => {
            ("wss", r)
        }
        Some((s, _)) => return Err(UrlError::Scheme(s.chars().take(32).collect())),
        None => ("wss", url),
    };
    let rest = rest.trim_end_matches('/');
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || rest.contains(char::is_whitespace) {
        return Err(UrlError::NoHost);
    }
    if scheme == "ws" && !insecure {
        return Err(UrlError::Insecure("ws"));
    }
    Ok(format!("{scheme}://{rest}{SOCKET_PATH}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue17_towerops_url_mapping() {
        let ok = |u: &str, insecure: bool| socket_url(u, insecure).unwrap_or_default();
        assert_eq!(
            ok("https://app.example.com", false),
            "wss://app.example.com/socket/agent/websocket"
        );
        assert_eq!(
            ok("wss://app.example.com/", false),
            "wss://app.example.com/socket/agent/websocket"
        );
        assert_eq!(
            ok("app.example.com:4000", false),
            "wss://app.example.com:4000/socket/agent/websocket"
        );
        assert_eq!(
            ok(" https://h/base// ", false),
            "wss://h/base/socket/agent/websocket"
        );
        assert_eq!(
            ok("http://127.0.0.1:4000", true),
            "ws://127.0.0.1:4000/socket/agent/websocket"
        );
        assert_eq!(ok("ws://h", true), "ws://h/socket/agent/websocket");
        assert_eq!(socket_url("http://h", false), Err(UrlError::Insecure("ws")));
        assert_eq!(socket_url("ws://h", false), Err(UrlError::Insecure("ws")));
        assert_eq!(
            socket_url("ftp://h", true),
            Err(UrlError::Scheme("ftp".into()))
        );
        assert_eq!(socket_url("https://", false), Err(UrlError::NoHost));
        assert_eq!(socket_url("", false), Err(UrlError::NoHost));
        assert_eq!(socket_url("https:///path", false), Err(UrlError::NoHost));
    }
}
