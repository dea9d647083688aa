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
    #[error("no broker given")]
    Empty,
    #[error("{0:?} is listed twice")]
    Duplicate(String),
    /// A plaintext broker beside TLS ones would be a downgrade on failover.
    #[error("mixes mqtt:// and mqtts:// brokers: every broker of a list uses the same scheme, so a failover never drops TLS")]
    MixedSchemes,
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

/// `uplink.mqtt.url`: one broker or several, comma-separated (the nodes of one cluster).
/// The agent uses one at a time and moves to the next on failure.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerList(Vec<BrokerUrl>);

impl BrokerList {
    pub fn parse(text: &str) -> Result<Self, BrokerUrlError> {
        let mut brokers: Vec<BrokerUrl> = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let b = BrokerUrl::parse(part)?;
            if brokers.iter().any(|o| o.host == b.host && o.port == b.port) {
                return Err(BrokerUrlError::Duplicate(part.to_owned()));
            }
            brokers.push(b);
        }
        let first = brokers.first().ok_or(BrokerUrlError::Empty)?;
        if brokers.iter().any(|b| b.tls != first.tls) {
            return Err(BrokerUrlError::MixedSchemes);
        }
        Ok(BrokerList(brokers))
    }

    /// Whether the brokers are reached over TLS (all or none are).
    pub fn tls(&self) -> bool {
        self.0.first().is_some_and(|b| b.tls)
    }

    pub fn brokers(&self) -> &[BrokerUrl] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<BrokerUrl> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::{BrokerList, BrokerUrl, BrokerUrlError};

    #[test]
    fn issue20_broker_lists() {
        let l = BrokerList::parse("mqtts://a:1, mqtts://b ,mqtts://[::1]:3").unwrap();
        let hosts: Vec<_> = l
            .brokers()
            .iter()
            .map(|b| (b.host.as_str(), b.port))
            .collect();
        assert_eq!(hosts, [("a", 1), ("b", 8883), ("::1", 3)]);
        assert!(l.tls());
        assert_eq!(BrokerList::parse("mqtt://a").unwrap().brokers().len(), 1);
        assert_eq!(BrokerList::parse(" , "), Err(BrokerUrlError::Empty));
        assert_eq!(
            BrokerList::parse("mqtts://a, mqtt://b"),
            Err(BrokerUrlError::MixedSchemes)
        );
        assert_eq!(
            BrokerList::parse("mqtt://a:1883, mqtt://a"),
            Err(BrokerUrlError::Duplicate("mqtt://a".into()))
        );
        // A bad entry is named.
        assert_eq!(
            BrokerList::parse("mqtt://a, mqtt://b:x")
                .unwrap_err()
                .to_string(),
            r#""mqtt://b:x": bad port "x""#
        );
    }

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
