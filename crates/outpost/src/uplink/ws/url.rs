//! Where the control plane is: the configured URL as Phoenix wants it.

/// Why `uplink.ws.url` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsUrlError {
    #[error("unsupported scheme {0:?}; use wss://, ws://, https:// or http://")]
    Scheme(String),
    #[error("{0:?}: no host")]
    NoHost(String),
}

/// `http(s)://` becomes `ws(s)://`, a bare host `wss://`; with no path, Phoenix's default
/// `/socket/websocket`; and `vsn=2.0.0` selects the array framing.
pub fn normalize_url(url: &str) -> Result<String, WsUrlError> {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", r)) | Some(("ws", r)) => ("ws", r),
        Some(("https", r)) | Some(("wss", r)) => ("wss", r),
        Some((s, _)) => return Err(WsUrlError::Scheme(s.to_owned())),
        None => ("wss", url),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains(char::is_whitespace) {
        return Err(WsUrlError::NoHost(url.to_owned()));
    }
    let path = if path.is_empty() || path == "/" {
        "/socket/websocket"
    } else {
        path
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    let vsn = if path.contains("vsn=") {
        String::new()
    } else {
        format!("{sep}vsn=2.0.0")
    };
    Ok(format!("{scheme}://{authority}{path}{vsn}"))
}

#[cfg(test)]
mod tests {
    use super::normalize_url;

    #[test]
    fn issue5_ws_urls_are_normalized() {
        assert_eq!(
            normalize_url("cp.example.com").unwrap(),
            "wss://cp.example.com/socket/websocket?vsn=2.0.0"
        );
        assert_eq!(
            normalize_url("https://cp:4000").unwrap(),
            "wss://cp:4000/socket/websocket?vsn=2.0.0"
        );
        assert_eq!(
            normalize_url("http://127.0.0.1:9/agent/websocket").unwrap(),
            "ws://127.0.0.1:9/agent/websocket?vsn=2.0.0"
        );
        assert_eq!(
            normalize_url("wss://h/s?x=1").unwrap(),
            "wss://h/s?x=1&vsn=2.0.0"
        );
        assert!(normalize_url("ftp://h").is_err());
        assert!(normalize_url("wss://").is_err());
        // The texts config errors quote.
        assert_eq!(
            normalize_url("ftp://h").unwrap_err().to_string(),
            r#"unsupported scheme "ftp"; use wss://, ws://, https:// or http://"#
        );
        assert_eq!(
            normalize_url("wss://").unwrap_err().to_string(),
            r#""wss://": no host"#
        );
    }
}
