//! The HTTP statuses a check expects: `200`, `200,204`, `200-299,301`, as text, or the same
//! as a JSON number or list (`[200, "300-399"]`). check_http's `-e` takes a list of codes;
//! ranges are ours (Towerops' checks carry "2xx"-style expectations, `2xx` is accepted too).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// A non-empty set of status ranges, kept in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a status list (e.g. `200`, `200,204`, `200-299`, `2xx`)")]
pub struct StatusSetError(String);

impl StatusSet {
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&status))
    }

    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.0
    }
}

fn code(t: &str) -> Option<u16> {
    let t = t.trim();
    if t.len() != 3 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok().filter(|c| (100..=599).contains(c))
}

impl FromStr for StatusSet {
    type Err = StatusSetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || StatusSetError(s.chars().take(100).collect());
        let mut out = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            let range =
                if let Some(class) = part.strip_suffix("xx").or_else(|| part.strip_suffix("XX")) {
                    let d = match class.as_bytes() {
                        [d @ b'1'..=b'5'] => u16::from(d - b'0'),
                        _ => return Err(err()),
                    };
                    (d * 100, d * 100 + 99)
                } else if let Some((lo, hi)) = part.split_once('-') {
                    let (lo, hi) = (code(lo).ok_or_else(err)?, code(hi).ok_or_else(err)?);
                    if lo > hi {
                        return Err(err());
                    }
                    (lo, hi)
                } else {
                    let c = code(part).ok_or_else(err)?;
                    (c, c)
                };
            out.push(range);
        }
        if out.is_empty() {
            return Err(err());
        }
        Ok(StatusSet(out))
    }
}

impl fmt::Display for StatusSet {
    /// The text form `parse` reads back: `200,300-399`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for StatusSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Item {
            Code(u16),
            Text(String),
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(Item),
            Many(Vec<Item>),
        }
        let text = |i: Item| match i {
            Item::Code(c) => c.to_string(),
            Item::Text(t) => t,
        };
        let joined = match Form::deserialize(d)? {
            Form::One(i) => text(i),
            Form::Many(v) => v.into_iter().map(text).collect::<Vec<_>>().join(","),
        };
        joined.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_codes_ranges_and_classes() {
        let s: StatusSet = "200, 204,300-302,4xx".parse().unwrap();
        assert!(s.contains(200) && s.contains(301) && s.contains(404));
        assert!(!s.contains(201) && !s.contains(500));
        assert_eq!(s.to_string(), "200,204,300-302,400-499");
        for bad in [
            "", "20", "2000", "600", "300-200", "6xx", "abc", "200,", "099",
        ] {
            assert!(bad.parse::<StatusSet>().is_err(), "{bad}");
        }
        let j: StatusSet = serde_json::from_str(r#"[200, "3xx"]"#).unwrap();
        assert_eq!(j.to_string(), "200,300-399");
        let j: StatusSet = serde_json::from_str("201").unwrap();
        assert_eq!(j.to_string(), "201");
        assert!(serde_json::from_str::<StatusSet>("[]").is_err());
    }

    fn range() -> impl Strategy<Value = (u16, u16)> {
        (100u16..=599, 0u16..50).prop_map(|(lo, w)| (lo, (lo + w).min(599)))
    }

    proptest! {
        #[test]
        fn text_round_trips(ranges in proptest::collection::vec(range(), 1..6)) {
            let set = StatusSet(ranges);
            let text = set.to_string();
            let back: StatusSet = text.parse().unwrap();
            prop_assert_eq!(&back, &set);
            for &(lo, hi) in set.ranges() {
                prop_assert!(back.contains(lo) && back.contains(hi));
            }
        }

        #[test]
        fn any_text_parses_or_errs_without_panic(s in ".{0,40}") {
            let _ = s.parse::<StatusSet>();
        }
    }
}
