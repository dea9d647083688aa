//! Where the broker is.

/// Why a broker URL was refused (`uplink.mqtt.url`, `outpost ctl --broker`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerUrlError {
    #[error("{0:?}: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")]
    Scheme(String),
    #[error("unclosed [ in IPv6 host")]
    UnclosedBracket,
    #[error("{0:?}: no host")]
    NoHost(String),
    #[error("{url:?}: bad port {port:?}")]
    BadPort { url: String, port: String },
}

/// `mqtt://host:port` or `mqtts://host:port`.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl BrokerUrl {
    pub fn parse(url: &str) -> Result<Self, BrokerUrlError> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(BrokerUrlError::Scheme(url.to_owned()));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or(BrokerUrlError::UnclosedBracket)?;
            (h.to_owned(), after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (rest.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(BrokerUrlError::NoHost(url.to_owned()));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| BrokerUrlError::BadPort {
                url: url.to_owned(),
                port: p.to_owned(),
            })?,
            None if tls => 8883,
            None => 1883,
        };
        Ok(BrokerUrl { host, port, tls })
    }
}

#[cfg(test)]
mod tests {
    use super::BrokerUrl;

    #[test]
    fn issue5_broker_urls() {
        assert_eq!(
            BrokerUrl::parse("mqtt://h").unwrap(),
            BrokerUrl {
                host: "h".into(),
                port: 1883,
                tls: false
            }
        );
        assert_eq!(
            BrokerUrl::parse("mqtts://h:1").unwrap(),
            BrokerUrl {
                host: "h".into(),
                port: 1,
                tls: true
            }
        );
        assert_eq!(BrokerUrl::parse("mqtt://[::1]:9").unwrap().host, "::1");
        assert!(BrokerUrl::parse("http://h").is_err());
        assert!(BrokerUrl::parse("mqtt://h:x").is_err());
        assert!(BrokerUrl::parse("mqtt://").is_err());
        // The texts config errors quote.
        assert_eq!(
            BrokerUrl::parse("mqtt://h:x").unwrap_err().to_string(),
            r#""mqtt://h:x": bad port "x""#
        );
        assert_eq!(
            BrokerUrl::parse("http://h").unwrap_err().to_string(),
            r#""http://h": expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]"#
        );
    }
}
