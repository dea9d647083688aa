//! Reply sentences (`!re`, `!done`, `!trap`, `!fatal`, `!empty`) and command sentences.

use std::collections::BTreeMap;

use super::RouterOsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Re,
    Done,
    Trap,
    Fatal,
    Empty,
}

impl ReplyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyKind::Re => "!re",
            ReplyKind::Done => "!done",
            ReplyKind::Trap => "!trap",
            ReplyKind::Fatal => "!fatal",
            ReplyKind::Empty => "!empty",
        }
    }
}

/// One reply sentence, its words as text (RouterOS sends bytes in the router's code page;
/// anything not UTF-8 is replaced, since the result goes into protobuf strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: ReplyKind,
    /// `.tag=` when the command was tagged.
    pub tag: Option<String>,
    /// The `=key=value` words, in the order received (a repeated key keeps its last value
    /// in [`Reply::attribute`], every occurrence here).
    pub attributes: Vec<(String, String)>,
    /// Any other word (a `!fatal`'s reason, an API word this decoder does not know).
    pub other: Vec<String>,
}

impl Reply {
    /// The value of attribute `key`, the last one when repeated.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The attributes as a map (the last value of a repeated key wins).
    pub fn attribute_map(&self) -> BTreeMap<String, String> {
        self.attributes.iter().cloned().collect()
    }
}

/// A decoded sentence as a reply; the first word must be one of the five reply words.
pub fn parse_reply(words: &[Vec<u8>]) -> Result<Reply, RouterOsError> {
    let Some((first, rest)) = words.split_first() else {
        return Err(RouterOsError::EmptySentence);
    };
    let kind = match first.as_slice() {
        b"!re" => ReplyKind::Re,
        b"!done" => ReplyKind::Done,
        b"!trap" => ReplyKind::Trap,
        b"!fatal" => ReplyKind::Fatal,
        b"!empty" => ReplyKind::Empty,
        other => {
            let mut shown = String::from_utf8_lossy(other).into_owned();
            if shown.len() > 64 {
                let mut cut = 64;
                while !shown.is_char_boundary(cut) {
                    cut -= 1;
                }
                shown.truncate(cut);
                shown.push('…');
            }
            return Err(RouterOsError::UnknownReply(shown));
        }
    };
    let mut r = Reply {
        kind,
        tag: None,
        attributes: Vec::new(),
        other: Vec::new(),
    };
    for w in rest {
        let text = String::from_utf8_lossy(w);
        if let Some(attr) = text.strip_prefix('=') {
            // `=key=value`; the value may itself hold `=`. `=key` alone is an empty value.
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            r.attributes.push((k.to_owned(), v.to_owned()));
        } else if let Some(tag) = text.strip_prefix(".tag=") {
            r.tag = Some(tag.to_owned());
        } else {
            r.other.push(text.into_owned());
        }
    }
    Ok(r)
}

/// The sentence for one command: the command word, then `words` as they are when there
/// are any (ordered API words after the command, Towerops' `MikrotikCommand.words`),
/// else the `args` map: keys starting `?` (queries) or `.` (`.tag`, `.proplist`) as
/// `key=value`, any other as the attribute `=key=value`.
pub fn command_sentence(
    command: &str,
    words: &[String],
    args: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::with_capacity(1 + words.len().max(args.len()));
    out.push(command.to_owned());
    if !words.is_empty() {
        out.extend(words.iter().cloned());
    } else {
        for (k, v) in args {
            if k.starts_with('?') || k.starts_with('.') {
                out.push(format!("{k}={v}"));
            } else {
                out.push(format!("={k}={v}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn w(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn issue17_routeros_reply_kinds_attributes_and_tags() {
        let r = parse_reply(&w(&[
            "!re",
            "=name=ether1",
            "=comment=a=b",
            "=empty",
            ".tag=7",
        ]))
        .unwrap();
        assert_eq!(r.kind, ReplyKind::Re);
        assert_eq!(r.attribute("name"), Some("ether1"));
        assert_eq!(r.attribute("comment"), Some("a=b"));
        assert_eq!(r.attribute("empty"), Some(""));
        assert_eq!(r.tag.as_deref(), Some("7"));
        let f = parse_reply(&w(&["!fatal", "session terminated"])).unwrap();
        assert_eq!(
            (f.kind, f.other[0].as_str()),
            (ReplyKind::Fatal, "session terminated")
        );
        assert_eq!(
            parse_reply(&w(&["hello"])),
            Err(RouterOsError::UnknownReply("hello".into()))
        );
        assert_eq!(parse_reply(&[]), Err(RouterOsError::EmptySentence));
    }

    #[test]
    fn issue17_routeros_command_words_win_over_args() {
        let mut args = BTreeMap::new();
        args.insert("?type".to_owned(), "ether".to_owned());
        args.insert(".proplist".to_owned(), "name".to_owned());
        args.insert("numbers".to_owned(), "0".to_owned());
        assert_eq!(
            command_sentence("/interface/print", &[], &args),
            [
                "/interface/print",
                ".proplist=name",
                "?type=ether",
                "=numbers=0"
            ]
        );
        let words = vec!["?type=ether".to_owned(), "=.proplist=name".to_owned()];
        assert_eq!(
            command_sentence("/interface/print", &words, &args),
            ["/interface/print", "?type=ether", "=.proplist=name"]
        );
    }
}
