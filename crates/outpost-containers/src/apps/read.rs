//! Reading typed values out of the marked YAML tree: each accessor names the path and the
//! position of what it refused.

use std::fmt;

use super::error::{ComposeError, ComposeErrorKind as K, Pos};
use super::yaml::{Entry, Node, Value};

/// A document path: `services.web.ports[1]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Path(Vec<Seg>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

impl Path {
    pub fn key(&self, k: &str) -> Path {
        let mut p = self.0.clone();
        p.push(Seg::Key(k.to_owned()));
        Path(p)
    }

    pub fn index(&self, i: usize) -> Path {
        let mut p = self.0.clone();
        p.push(Seg::Index(i));
        Path(p)
    }

    pub fn segs(&self) -> &[Seg] {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

pub(crate) fn err(n: &Node, path: &Path, kind: K) -> ComposeError {
    ComposeError::new(n.pos, path.to_string(), kind)
}

pub(crate) fn invalid(n: &Node, path: &Path, message: impl Into<String>) -> ComposeError {
    ComposeError::invalid(n.pos, path.to_string(), message)
}

fn wrong(n: &Node, path: &Path, expected: &'static str) -> ComposeError {
    err(n, path, K::WrongType { expected })
}

pub(crate) fn map<'a>(n: &'a Node, path: &Path) -> Result<&'a [Entry], ComposeError> {
    match &n.value {
        Value::Map(es) => Ok(es),
        _ => Err(wrong(n, path, "a mapping")),
    }
}

pub(crate) fn seq<'a>(n: &'a Node, path: &Path) -> Result<&'a [Node], ComposeError> {
    match &n.value {
        Value::Seq(items) => Ok(items),
        _ => Err(wrong(n, path, "a list")),
    }
}

/// A scalar's text as written (numbers and booleans included), not null.
pub(crate) fn raw<'a>(n: &'a Node, path: &Path) -> Result<&'a str, ComposeError> {
    match &n.value {
        Value::Scalar { text, .. } if !n.is_null() => Ok(text),
        _ => Err(wrong(n, path, "a value (text or number)")),
    }
}

/// A string value, with Compose's `$$` unescaped. Interpolation of variables is outside
/// the subset; a value that would interpolate is refused, not passed on with its `$`.
pub(crate) fn string(n: &Node, path: &Path) -> Result<String, ComposeError> {
    unescape(raw(n, path)?).ok_or_else(|| err(n, path, K::Interpolation))
}

/// `$$` to `$`; `None` when the text holds `$NAME` or `${...}`.
pub(crate) fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('$') => {
                chars.next();
                out.push('$');
            }
            Some(&n) if n == '{' || n == '_' || n.is_ascii_alphabetic() => return None,
            _ => out.push('$'),
        }
    }
    Some(out)
}

pub(crate) fn boolean(n: &Node, path: &Path) -> Result<bool, ComposeError> {
    match raw(n, path) {
        Ok("true" | "True" | "TRUE") => Ok(true),
        Ok("false" | "False" | "FALSE") => Ok(false),
        _ => Err(wrong(n, path, "true or false")),
    }
}

pub(crate) fn uint<T: std::str::FromStr>(n: &Node, path: &Path) -> Result<T, ComposeError> {
    raw(n, path)?
        .parse::<T>()
        .map_err(|_| wrong(n, path, "a whole number in range"))
}

/// A list of strings, or one string split as a shell would split it (no shell runs).
pub(crate) fn words(n: &Node, path: &Path) -> Result<Vec<String>, ComposeError> {
    match &n.value {
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, it)| string(it, &path.index(i)))
            .collect(),
        Value::Scalar { .. } if !n.is_null() => {
            let s = string(n, path)?;
            super::scalars::split_words(&s).map_err(|m| invalid(n, path, m))
        }
        _ => Err(wrong(n, path, "a string or a list of strings")),
    }
}

/// A mapping of text to text, or a list of `KEY=VALUE` (`KEY` alone: `missing`).
pub(crate) fn dict(
    n: &Node,
    path: &Path,
    missing: Option<&str>,
) -> Result<Vec<(String, String, Pos)>, ComposeError> {
    let mut out = Vec::new();
    match &n.value {
        Value::Map(es) => {
            for e in es {
                let p = path.key(&e.key);
                let v = if e.value.is_null() {
                    match missing {
                        Some(m) => m.to_owned(),
                        None => return Err(invalid(&e.value, &p, "has no value")),
                    }
                } else {
                    string(&e.value, &p)?
                };
                out.push((e.key.clone(), v, e.key_pos));
            }
        }
        Value::Seq(items) => {
            for (i, it) in items.iter().enumerate() {
                let p = path.index(i);
                let s = string(it, &p)?;
                let (k, v) = match s.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => match missing {
                        Some(m) => (s, m.to_owned()),
                        None => return Err(invalid(it, &p, format!("`{s}` has no `=VALUE`"))),
                    },
                };
                if k.is_empty() {
                    return Err(invalid(it, &p, "empty name before `=`"));
                }
                out.push((k, v, it.pos));
            }
        }
        _ => return Err(wrong(n, path, "a mapping or a list of KEY=VALUE")),
    }
    // Same key twice in list form: YAML's own check only sees mappings.
    let mut seen = std::collections::HashMap::new();
    for (k, _, at) in &out {
        if let Some(first) = seen.insert(k.clone(), at.line) {
            return Err(ComposeError::new(
                *at,
                path.to_string(),
                K::DuplicateKey {
                    key: k.clone(),
                    first_line: first,
                },
            ));
        }
    }
    Ok(out)
}

/// The node at `path`, for the position of an error found after parsing. A key looked up
/// in a list finds the item with that text (a `depends_on` written as a list).
pub(crate) fn locate<'a>(root: &'a Node, path: &Path) -> &'a Node {
    let mut at = root;
    for s in path.segs() {
        let next = match (s, &at.value) {
            (Seg::Key(k), Value::Map(es)) => es.iter().find(|e| &e.key == k).map(|e| &e.value),
            (Seg::Key(k), Value::Seq(items)) => items
                .iter()
                .find(|it| matches!(&it.value, Value::Scalar { text, .. } if text == k)),
            (Seg::Index(i), Value::Seq(items)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(n) => at = n,
            None => break,
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_escapes() {
        assert_eq!(unescape("a$$b").as_deref(), Some("a$b"));
        assert_eq!(unescape("cost: 5$").as_deref(), Some("cost: 5$"));
        assert_eq!(unescape("$1").as_deref(), Some("$1"));
        assert_eq!(unescape("${X}"), None);
        assert_eq!(unescape("$HOME"), None);
    }

    #[test]
    fn paths_render_like_compose() {
        let p = Path::default()
            .key("services")
            .key("web")
            .key("ports")
            .index(1);
        assert_eq!(p.to_string(), "services.web.ports[1]");
    }
}
