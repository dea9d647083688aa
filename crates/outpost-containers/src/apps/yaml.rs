//! YAML text to a small tree whose every node knows its line and column, built from
//! saphyr-parser's events (the only module that sees the YAML crate).
//!
//! We build the tree ourselves, not through the crate's loader, for the bounds: the input's
//! size, the nesting depth (a deep tree would overflow the stack when dropped), and the
//! expansion of aliases, which are copied under a budget of nodes and bytes so a small file
//! cannot become a huge document ("billion laughs"). Duplicate keys are refused (YAML says
//! keys are unique; a silent "last one wins" hides typos), and `<<` merge keys, which
//! Compose files use with `x-` anchors, are applied here.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use super::error::{ComposeError, ComposeErrorKind as K, Pos};

/// Largest Compose file accepted.
pub const MAX_BYTES: usize = 1 << 20;
/// Deepest nesting accepted; Compose needs about six.
pub const MAX_DEPTH: usize = 64;
/// Most nodes the document may hold once aliases are expanded.
pub const MAX_NODES: usize = 100_000;
/// Most scalar bytes the document may hold once aliases are expanded.
pub const MAX_SCALAR_BYTES: usize = 4 * MAX_BYTES;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
    /// Nodes in this subtree, itself included (what copying it for an alias costs).
    nodes: usize,
    /// Scalar bytes in this subtree.
    bytes: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `plain` is false for a quoted or block scalar, or one tagged `!!str`: `"null"` is
    /// text, `null` is nothing.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
    /// A plain `<<`: YAML's merge key. A quoted `"<<"` is an ordinary key.
    merge: bool,
}

impl Node {
    /// YAML's null: an empty plain scalar, `~` or `null`.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }
}

fn pos(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

fn syntax(e: &saphyr_parser::ScanError) -> ComposeError {
    let m = e.marker();
    ComposeError::new(
        Pos {
            line: m.line().max(1),
            column: m.col() + 1,
        },
        "",
        K::Syntax(e.info().to_owned()),
    )
}

/// A collection being built.
struct Frame {
    pos: Pos,
    anchor: usize,
    kind: FrameKind,
    nodes: usize,
    bytes: usize,
}

enum FrameKind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<Entry>,
        key: Option<(String, Pos, bool)>,
    },
}

/// Only the core schema's tags are let through (they change nothing here but `!!str`);
/// any other (Compose's `!reset`, `!override`, an application's own) is refused rather than
/// ignored.
fn check_tag(tag: Option<&Cow<'_, Tag>>, at: Pos) -> Result<bool, ComposeError> {
    match tag {
        None => Ok(false),
        Some(t) if t.is_yaml_core_schema() => Ok(t.suffix == "str"),
        Some(t) => Err(ComposeError::new(at, "", K::Tag(t.to_string()))),
    }
}

struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    /// The anchors' names, for an error about an alias.
    root: Option<Node>,
    total_nodes: usize,
    total_bytes: usize,
}

impl Builder {
    fn charge(&mut self, nodes: usize, bytes: usize) -> Result<(), ComposeError> {
        self.total_nodes = self.total_nodes.saturating_add(nodes);
        self.total_bytes = self.total_bytes.saturating_add(bytes);
        if self.total_nodes > MAX_NODES {
            return Err(ComposeError::new(
                Pos::default(),
                "",
                K::ExpansionLimit {
                    what: "nodes",
                    max: MAX_NODES,
                },
            ));
        }
        if self.total_bytes > MAX_SCALAR_BYTES {
            return Err(ComposeError::new(
                Pos::default(),
                "",
                K::ExpansionLimit {
                    what: "bytes of text",
                    max: MAX_SCALAR_BYTES,
                },
            ));
        }
        Ok(())
    }

    fn open(&mut self, at: Pos, anchor: usize, kind: FrameKind) -> Result<(), ComposeError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(ComposeError::new(at, "", K::TooDeep { max: MAX_DEPTH }));
        }
        self.charge(1, 0)?;
        self.stack.push(Frame {
            pos: at,
            anchor,
            kind,
            nodes: 1,
            bytes: 0,
        });
        Ok(())
    }

    /// A finished node goes into its parent (or becomes the document).
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), ComposeError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(top) = self.stack.last_mut() else {
            if self.root.is_some() {
                return Err(ComposeError::new(node.pos, "", K::MultipleDocuments));
            }
            self.root = Some(node);
            return Ok(());
        };
        top.nodes = top.nodes.saturating_add(node.nodes);
        top.bytes = top.bytes.saturating_add(node.bytes);
        match &mut top.kind {
            FrameKind::Seq(items) => items.push(node),
            FrameKind::Map { entries, key } => match key.take() {
                None => match node.value {
                    Value::Scalar { text, plain } => {
                        let merge = plain && text == "<<";
                        *key = Some((text, node.pos, merge))
                    }
                    _ => return Err(ComposeError::new(node.pos, "", K::ComplexKey)),
                },
                Some((k, key_pos, merge)) => entries.push(Entry {
                    key: k,
                    key_pos,
                    value: node,
                    merge,
                }),
            },
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), ComposeError> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let value = match frame.kind {
            FrameKind::Seq(items) => Value::Seq(items),
            FrameKind::Map { entries, .. } => Value::Map(merge_and_check(entries)?),
        };
        let node = Node {
            pos: frame.pos,
            value,
            nodes: frame.nodes,
            bytes: frame.bytes,
        };
        self.finish(node, frame.anchor)
    }

    fn event(&mut self, ev: Event<'_>, span: &Span) -> Result<(), ComposeError> {
        let at = pos(span);
        match ev {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                if self.root.is_some() {
                    return Err(ComposeError::new(at, "", K::MultipleDocuments));
                }
            }
            Event::Alias(id) => {
                let Some((nodes, bytes)) = self.anchors.get(&id).map(|n| (n.nodes, n.bytes)) else {
                    return Err(ComposeError::new(at, "", K::BadAlias(id.to_string())));
                };
                // Charged before the copy is made: the budget bounds memory, not just time.
                self.charge(nodes, bytes)?;
                let Some(node) = self.anchors.get(&id).cloned() else {
                    return Err(ComposeError::new(at, "", K::BadAlias(id.to_string())));
                };
                self.finish(node, 0)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let forced_str = check_tag(tag.as_ref(), at)?;
                let bytes = text.len();
                self.charge(1, bytes)?;
                let node = Node {
                    pos: at,
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain && !forced_str,
                    },
                    nodes: 1,
                    bytes,
                };
                self.finish(node, anchor)?;
            }
            Event::SequenceStart(anchor, tag) => {
                check_tag(tag.as_ref(), at)?;
                self.open(at, anchor, FrameKind::Seq(Vec::new()))?;
            }
            Event::MappingStart(anchor, tag) => {
                check_tag(tag.as_ref(), at)?;
                self.open(
                    at,
                    anchor,
                    FrameKind::Map {
                        entries: Vec::new(),
                        key: None,
                    },
                )?;
            }
            Event::SequenceEnd | Event::MappingEnd => self.close()?,
        }
        Ok(())
    }
}

/// Applies `<<` merge keys (a mapping, or a list of mappings, whose keys the mapping takes
/// unless it sets them itself; earlier mappings in the list win) and refuses duplicate keys.
fn merge_and_check(entries: Vec<Entry>) -> Result<Vec<Entry>, ComposeError> {
    let mut own: Vec<Entry> = Vec::with_capacity(entries.len());
    let mut merges: Vec<Node> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for e in entries {
        if e.merge {
            merges.push(e.value);
            continue;
        }
        if let Some(first_line) = seen.get(&e.key) {
            return Err(ComposeError::new(
                e.key_pos,
                "",
                K::DuplicateKey {
                    key: e.key,
                    first_line: *first_line,
                },
            ));
        }
        seen.insert(e.key.clone(), e.key_pos.line);
        own.push(e);
    }
    for m in merges {
        let sources = match m.value {
            Value::Map(_) => vec![m],
            Value::Seq(items) => items,
            Value::Scalar { .. } => {
                return Err(ComposeError::new(
                    m.pos,
                    "<<",
                    K::WrongType {
                        expected: "a mapping or a list of mappings to merge",
                    },
                ))
            }
        };
        for s in sources {
            let Value::Map(inherited) = s.value else {
                return Err(ComposeError::new(
                    s.pos,
                    "<<",
                    K::WrongType {
                        expected: "a mapping to merge",
                    },
                ));
            };
            for e in inherited {
                if !seen.contains_key(&e.key) {
                    seen.insert(e.key.clone(), e.key_pos.line);
                    own.push(e);
                }
            }
        }
    }
    Ok(own)
}

/// Parses one YAML document; `None` for an empty one.
pub(crate) fn parse(text: &str) -> Result<Option<Node>, ComposeError> {
    if text.len() > MAX_BYTES {
        return Err(ComposeError::new(
            Pos::default(),
            "",
            K::TooLarge {
                size: text.len(),
                max: MAX_BYTES,
            },
        ));
    }
    let mut b = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        total_nodes: 0,
        total_bytes: 0,
    };
    for item in Parser::new_from_str(text) {
        let (ev, span) = item.map_err(|e| syntax(&e))?;
        b.event(ev, &span)?;
    }
    Ok(b.root)
}

/// Bytes to text, or an error naming the line of the first byte that is not UTF-8.
pub(crate) fn text(bytes: &[u8]) -> Result<&str, ComposeError> {
    if bytes.len() > MAX_BYTES {
        return Err(ComposeError::new(
            Pos::default(),
            "",
            K::TooLarge {
                size: bytes.len(),
                max: MAX_BYTES,
            },
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let good = bytes.get(..e.valid_up_to()).unwrap_or_default();
        let line = 1 + good.iter().filter(|b| **b == b'\n').count();
        let column = 1 + good.iter().rev().take_while(|b| **b != b'\n').count();
        ComposeError::new(Pos { line, column }, "", K::NotUtf8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> Vec<(&str, &Node)> {
        match &node.value {
            Value::Map(es) => es.iter().map(|e| (e.key.as_str(), &e.value)).collect(),
            _ => panic!("not a map"),
        }
    }

    #[test]
    fn positions_are_one_based() {
        let n = parse("a: 1\nb:\n  - x\n").unwrap().unwrap();
        let m = map(&n);
        assert_eq!(m[0].0, "a");
        assert_eq!(m[1].1.pos.line, 3);
        assert_eq!(m[1].1.pos.column, 3);
    }

    #[test]
    fn null_and_quoted_null_differ() {
        let n = parse("a: null\nb: 'null'\nc:\n").unwrap().unwrap();
        let m = map(&n);
        assert!(m[0].1.is_null());
        assert!(!m[1].1.is_null());
        assert!(m[2].1.is_null());
    }

    #[test]
    fn duplicate_keys_are_refused_with_both_lines() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.pos.line, 3);
        assert!(
            matches!(e.kind, K::DuplicateKey { first_line: 1, .. }),
            "{e}"
        );
    }

    #[test]
    fn merge_keys_fill_what_the_mapping_does_not_set() {
        let n = parse("x: &d {a: 1, b: 2}\ny:\n  <<: *d\n  b: 3\n")
            .unwrap()
            .unwrap();
        let y = map(map(&n)[1].1);
        let got: Vec<_> = y
            .iter()
            .map(|(k, v)| match &v.value {
                Value::Scalar { text, .. } => format!("{k}={text}"),
                _ => String::new(),
            })
            .collect();
        assert_eq!(got, vec!["b=3", "a=1"]);
    }

    #[test]
    fn a_quoted_merge_key_is_an_ordinary_key() {
        let n = parse("\"<<\": x\n").unwrap().unwrap();
        assert_eq!(map(&n)[0].0, "<<");
    }

    #[test]
    fn alias_expansion_is_bounded() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse(&s).unwrap_err();
        assert!(matches!(e.kind, K::ExpansionLimit { .. }), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let e = parse(&s).unwrap_err();
        assert!(matches!(e.kind, K::TooDeep { .. }), "{e}");
    }

    #[test]
    fn other_tags_are_refused_core_tags_pass() {
        assert!(parse("a: !!str 1\n").is_ok());
        let e = parse("a: !reset []\n").unwrap_err();
        assert!(matches!(e.kind, K::Tag(_)), "{e}");
    }

    #[test]
    fn a_second_document_is_refused() {
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(e.kind, K::MultipleDocuments);
    }

    #[test]
    fn not_utf8_names_the_line() {
        let e = text(b"a: 1\nb: \xff\n").unwrap_err();
        assert_eq!((e.pos.line, e.pos.column), (2, 4));
    }
}
