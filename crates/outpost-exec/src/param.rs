//! A request's value checked against its parameter's spec, into exactly one argv element.
//!
//! The element is the value itself (a string, an enum member, an integer's canonical decimal
//! text) or, for a path, the checked absolute path: never split, expanded or spliced.

use std::io;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::refusal::{quote_prefix, ReasonCode, Refusal};
use crate::spec::ParamSpec;

/// Longest argv element a request may supply (and longest literal after argv[0]).
pub const MAX_ARG_BYTES: usize = 4096;
/// Longest argv, all elements together.
pub const MAX_ARGV_BYTES: usize = 64 * 1024;
/// Most argv elements.
pub const MAX_ARGV_ELEMENTS: usize = 1024;

/// Checks `value` for the parameter at `field` (e.g. `params.host`).
pub(crate) fn check(spec: &ParamSpec, field: &str, value: &Value) -> Result<String, Refusal> {
    match spec {
        ParamSpec::String {
            pattern,
            max_len,
            allow_leading_dash,
        } => {
            let s = text(field, value, "a string")?;
            if s.len() > *max_len {
                return Err(Refusal::new(
                    ReasonCode::TooLong,
                    field,
                    format!("{} bytes, at most {max_len}", s.len()),
                ));
            }
            if s.starts_with('-') && !allow_leading_dash {
                return Err(Refusal::new(
                    ReasonCode::OptionInjection,
                    field,
                    format!(
                        "{} starts with '-' (it would read as an option)",
                        quote_prefix(s)
                    ),
                ));
            }
            if !pattern.is_match(s) {
                return Err(Refusal::new(
                    ReasonCode::PatternMismatch,
                    field,
                    format!("{} does not match the parameter's pattern", quote_prefix(s)),
                ));
            }
            Ok(s.to_owned())
        }
        ParamSpec::Integer { min, max } => {
            let n = match value {
                Value::Number(n) => n.as_i64().ok_or_else(|| {
                    Refusal::new(ReasonCode::WrongType, field, "expected an integer")
                })?,
                // A string is accepted only in canonical decimal form, so the element a
                // program sees is exactly the text the request sent.
                Value::String(_) => {
                    let s = text(field, value, "an integer")?;
                    parse_canonical_int(s).ok_or_else(|| {
                        Refusal::new(
                            ReasonCode::WrongType,
                            field,
                            format!("{} is not an integer in decimal", quote_prefix(s)),
                        )
                    })?
                }
                _ => {
                    return Err(Refusal::new(
                        ReasonCode::WrongType,
                        field,
                        "expected an integer",
                    ))
                }
            };
            if n < *min || n > *max {
                return Err(Refusal::new(
                    ReasonCode::OutOfRange,
                    field,
                    format!("{n} is outside {min}..={max}"),
                ));
            }
            Ok(n.to_string())
        }
        ParamSpec::Enum { values } => {
            let s = text(field, value, "a string")?;
            if values.iter().any(|v| v == s) {
                Ok(s.to_owned())
            } else {
                Err(Refusal::new(
                    ReasonCode::NotInEnum,
                    field,
                    format!("{} is not one of {values:?}", quote_prefix(s)),
                ))
            }
        }
        ParamSpec::Path { root, must_exist } => {
            let s = text(field, value, "a path")?;
            check_path(root, *must_exist, field, s)
        }
    }
}

/// A string value with no NUL byte and at most [`MAX_ARG_BYTES`].
pub(crate) fn text<'a>(field: &str, value: &'a Value, what: &str) -> Result<&'a str, Refusal> {
    let Value::String(s) = value else {
        return Err(Refusal::new(
            ReasonCode::WrongType,
            field,
            format!("expected {what}"),
        ));
    };
    if s.contains('\0') {
        return Err(Refusal::new(
            ReasonCode::NulByte,
            field,
            "contains a NUL byte",
        ));
    }
    if s.len() > MAX_ARG_BYTES {
        return Err(Refusal::new(
            ReasonCode::TooLong,
            field,
            format!("{} bytes, at most {MAX_ARG_BYTES}", s.len()),
        ));
    }
    Ok(s)
}

/// `-?(0|[1-9][0-9]*)` within i64; `-0`, `+1`, ` 1`, `01` are refused.
fn parse_canonical_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && s != "-0";
    if !canonical {
        return None;
    }
    s.parse().ok()
}

/// A path under `root`: relative to it or absolute; no `.`, `..` or empty component (so the
/// text is already its normal form); the result, with symlinks resolved, still under root.
fn check_path(root: &Path, must_exist: bool, field: &str, s: &str) -> Result<String, Refusal> {
    if s.is_empty() {
        return Err(Refusal::new(ReasonCode::PathTraversal, field, "empty path"));
    }
    let rel = s.strip_prefix('/').unwrap_or(s);
    if !rel.is_empty()
        && rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(Refusal::new(
            ReasonCode::PathTraversal,
            field,
            format!("{} has a '.', '..' or empty component", quote_prefix(s)),
        ));
    }
    let candidate = if s.starts_with('/') {
        PathBuf::from(s)
    } else {
        root.join(s)
    };
    if !candidate.starts_with(root) {
        return Err(Refusal::new(
            ReasonCode::PathOutsideRoot,
            field,
            format!("{} is not under {}", quote_prefix(s), root.display()),
        ));
    }
    let outside = || {
        Refusal::new(
            ReasonCode::PathOutsideRoot,
            field,
            format!(
                "{} resolves (symlinks followed) outside {}",
                quote_prefix(s),
                root.display()
            ),
        )
    };
    let not_found = |e: io::Error| {
        Refusal::new(
            ReasonCode::PathNotFound,
            field,
            format!("{}: {e}", quote_prefix(s)),
        )
    };
    let resolved = match candidate.canonicalize() {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !must_exist => {
            // A path to be created: its parent must exist and resolve under the root, and the
            // last component is a plain name (checked above).
            let (Some(parent), Some(leaf)) = (candidate.parent(), candidate.file_name()) else {
                return Err(not_found(e));
            };
            parent.canonicalize().map_err(not_found)?.join(leaf)
        }
        Err(e) => return Err(not_found(e)),
    };
    if !resolved.starts_with(root) {
        return Err(outside());
    }
    // Only `Normal` components remain after canonicalization; a non-UTF-8 name can only come
    // from a symlink's target, which a JSON request could not have named itself.
    if resolved
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(outside());
    }
    resolved.into_os_string().into_string().map_err(|_| {
        Refusal::new(
            ReasonCode::PathNotFound,
            field,
            "resolves to a non-UTF-8 path",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::parse_canonical_int;

    #[test]
    fn canonical_integers_only() {
        assert_eq!(parse_canonical_int("0"), Some(0));
        assert_eq!(parse_canonical_int("-12"), Some(-12));
        for bad in [
            "",
            "-",
            "-0",
            "01",
            "+1",
            " 1",
            "1 ",
            "1e3",
            "0x10",
            "99999999999999999999",
        ] {
            assert_eq!(parse_canonical_int(bad), None, "{bad:?}");
        }
    }
}
