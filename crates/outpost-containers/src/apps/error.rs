//! The one error a Compose file can be refused with: what is wrong, where in the text (line
//! and column, 1-based) and where in the document (`services.web.ports[1]`), so an operator
//! can go straight to it.

use std::fmt;

/// Where a value sits in the file. Lines and columns count from 1; `line == 0` means the
/// error is about the file as a whole (its size, its encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A Compose file that was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ComposeError {
    pub pos: Pos,
    /// The document path of the offending value, `services.web.ports[1]`; empty for the
    /// whole document.
    pub path: String,
    pub kind: ComposeErrorKind,
}

impl ComposeError {
    pub(crate) fn new(pos: Pos, path: impl Into<String>, kind: ComposeErrorKind) -> Self {
        ComposeError {
            pos,
            path: path.into(),
            kind,
        }
    }

    pub(crate) fn invalid(pos: Pos, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            pos,
            path,
            ComposeErrorKind::Invalid {
                message: message.into(),
            },
        )
    }

    /// The line (1-based) the error is about, 0 for the whole file.
    pub fn line(&self) -> usize {
        self.pos.line
    }
}

impl fmt::Display for ComposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos.line > 0 {
            write!(f, "{}", self.pos)?;
            if !self.path.is_empty() {
                write!(f, " ({})", self.path)?;
            }
            write!(f, ": ")?;
        } else if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.kind)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ComposeErrorKind {
    #[error("the file is {size} bytes, over the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("the file is not UTF-8")]
    NotUtf8,
    #[error("YAML syntax: {0}")]
    Syntax(String),
    #[error("nested deeper than {max} levels")]
    TooDeep { max: usize },
    /// Anchors and aliases are expanded under a budget: a small file must not become a
    /// huge document (the "billion laughs").
    #[error("aliases expand the document beyond {max} {what}")]
    ExpansionLimit { what: &'static str, max: usize },
    #[error("alias `*{0}` names no finished anchor (unknown, or a node referring to itself)")]
    BadAlias(String),
    #[error("YAML tag `{0}` is not supported")]
    Tag(String),
    #[error("a Compose file holds one YAML document; this one has more")]
    MultipleDocuments,
    #[error("mapping keys must be text")]
    ComplexKey,
    #[error("duplicate key `{key}` (first at line {first_line})")]
    DuplicateKey { key: String, first_line: usize },
    #[error("unknown or unsupported key `{key}`")]
    UnknownKey { key: String },
    #[error("`{key}` is required")]
    Missing { key: String },
    #[error("expected {expected}")]
    WrongType { expected: &'static str },
    #[error("{message}")]
    Invalid { message: String },
    #[error(
        "variable interpolation (`$NAME`, `${{NAME}}`) is not supported; write `$$` for a literal `$`"
    )]
    Interpolation,
    #[error("`{name}` is not a valid name: it must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")]
    BadName { name: String },
    #[error("depends on `{service}`, which is not a service of this app")]
    UnknownDependency { service: String },
    #[error("dependency cycle: {}", .cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
    #[error("host port {port}/{protocol} is already published by {other}")]
    DuplicateHostPort {
        port: u16,
        protocol: &'static str,
        other: String,
    },
    #[error("label `{key}`: the `outpost.` prefix is reserved for the agent's own labels")]
    ReservedLabel { key: String },
}
