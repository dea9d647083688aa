//! Nagios performance data: `'label'=value[UOM];[warn];[crit];[min];[max]`, items separated
//! by spaces (Nagios Plugin Development Guidelines, "Performance data").
//!
//! Parsing is lenient where plugins in the wild are sloppy (trailing `;`, empty fields, a
//! comma as decimal separator in some locales is NOT accepted: it is ambiguous) and strict
//! where a wrong reading would mislead: a value that is not a number is an error for that
//! item, reported with the item's text, and the other items are still read.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest label kept; longer labels are an error (a plugin printing junk, not data).
pub const MAX_LABEL: usize = 256;

/// One performance-data item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Perfdata {
    pub label: String,
    /// `None` for the guidelines' `U` (the value could not be determined).
    pub value: Option<f64>,
    /// Unit of measure: empty, `s`, `ms`, `us`, `%`, `B`, `KB`, `MB`, `TB`, `c`, or what a
    /// plugin printed (kept, not judged).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uom: String,
    /// Thresholds as written: a range (`10`, `10:`, `~:10`, `10:20`, `@10:20`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PerfdataError {
    #[error("perfdata item {item:?}: no '=' between label and value")]
    NoEquals { item: String },
    #[error("perfdata item {item:?}: empty label")]
    EmptyLabel { item: String },
    #[error("perfdata item {item:?}: label longer than {MAX_LABEL} bytes")]
    LongLabel { item: String },
    #[error("perfdata item {item:?}: unterminated quoted label")]
    Unterminated { item: String },
    #[error("perfdata item {item:?}: value {value:?} is not a number")]
    BadValue { item: String, value: String },
    #[error("perfdata item {item:?}: {field} {text:?} is not a number")]
    BadBound {
        item: String,
        field: &'static str,
        text: String,
    },
    #[error("perfdata item {item:?}: threshold {text:?} is not a range")]
    BadRange { item: String, text: String },
}

impl Perfdata {
    /// An item with a value and unit and no thresholds.
    pub fn new(label: impl Into<String>, value: f64, uom: impl Into<String>) -> Self {
        Perfdata {
            label: label.into(),
            value: Some(value),
            uom: uom.into(),
            warn: None,
            crit: None,
            min: None,
            max: None,
        }
    }
}

/// Parses a perfdata string (what follows the `|`). Returns the items read and, separately,
/// an error for each item that could not be read.
pub fn parse(text: &str) -> (Vec<Perfdata>, Vec<PerfdataError>) {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for raw in split_items(text) {
        match parse_item(raw) {
            Ok(p) => items.push(p),
            Err(e) => errors.push(e),
        }
    }
    (items, errors)
}

/// Splits on whitespace outside single quotes. An unterminated quote runs to the end (and
/// becomes that item's error).
fn split_items(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut quoted = false;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if quoted {
            if b == b'\'' {
                // '' inside quotes is an escaped quote.
                if bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                quoted = false;
            }
        } else if b.is_ascii_whitespace() {
            if let Some(s) = start.take() {
                out.push(&text[s..i]);
            }
        } else if start.is_none() {
            start = Some(i);
            // Only a quote that starts an item opens a quoted label; one further on is a
            // character of the item (and its error, if anywhere but a label).
            quoted = b == b'\'';
        }
        i += 1;
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

fn parse_item(item: &str) -> Result<Perfdata, PerfdataError> {
    let err_item = || item.chars().take(300).collect::<String>();
    let (label, rest) = if let Some(q) = item.strip_prefix('\'') {
        // Quoted label: up to the closing quote that is not doubled.
        let mut label = String::new();
        let mut chars = q.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if matches!(chars.peek(), Some((_, '\''))) {
                    chars.next();
                    label.push('\'');
                    continue;
                }
                end = Some(i + 1);
                break;
            }
            label.push(c);
        }
        let Some(end) = end else {
            return Err(PerfdataError::Unterminated { item: err_item() });
        };
        let rest = &q[end..];
        let Some(rest) = rest.strip_prefix('=') else {
            return Err(PerfdataError::NoEquals { item: err_item() });
        };
        (label, rest)
    } else {
        let Some((label, rest)) = item.split_once('=') else {
            return Err(PerfdataError::NoEquals { item: err_item() });
        };
        (label.to_string(), rest)
    };
    if label.is_empty() {
        return Err(PerfdataError::EmptyLabel { item: err_item() });
    }
    if label.len() > MAX_LABEL {
        return Err(PerfdataError::LongLabel { item: err_item() });
    }
    let mut fields = rest.split(';');
    let value_uom = fields.next().unwrap_or("");
    let (value, uom) = split_value(value_uom)
        .filter(|(_, uom)| uom_ok(uom))
        .ok_or_else(|| PerfdataError::BadValue {
            item: err_item(),
            value: value_uom.chars().take(64).collect(),
        })?;
    let range = |t: Option<&str>| -> Result<Option<String>, PerfdataError> {
        match t.map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) if is_range(t) => Ok(Some(t.to_string())),
            Some(t) => Err(PerfdataError::BadRange {
                item: err_item(),
                text: t.chars().take(64).collect(),
            }),
        }
    };
    let bound = |t: Option<&str>, field: &'static str| -> Result<Option<f64>, PerfdataError> {
        match t.map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) => number(t).map(Some).ok_or_else(|| PerfdataError::BadBound {
                item: err_item(),
                field,
                text: t.chars().take(64).collect(),
            }),
        }
    };
    let warn = range(fields.next())?;
    let crit = range(fields.next())?;
    let min = bound(fields.next(), "min")?;
    let max = bound(fields.next(), "max")?;
    Ok(Perfdata {
        label,
        value,
        uom: uom.to_string(),
        warn,
        crit,
        min,
        max,
    })
}

/// `12.5ms` → (12.5, "ms"); `U` → (None, ""). The unit is what follows the number.
fn split_value(t: &str) -> Option<(Option<f64>, &str)> {
    let t = t.trim();
    if t == "U" {
        return Some((None, ""));
    }
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(t.len());
    // An exponent marker with no digits after it belongs to the unit, not the number.
    let (mut num, mut uom) = t.split_at(end);
    while num.ends_with(['e', 'E', '+', '-']) && num.len() > 1 {
        let cut = num.len() - 1;
        (num, uom) = t.split_at(cut);
    }
    number(num).map(|v| (Some(v), uom))
}

/// A unit is letters and symbols after the number: no space, quote or `=` (which would
/// make the item read differently when written back).
fn uom_ok(uom: &str) -> bool {
    uom.chars()
        .all(|c| !c.is_whitespace() && !c.is_control() && c != '\'' && c != '=')
}

/// A finite decimal number (no `inf`/`nan`, which `f64::from_str` would accept).
fn number(t: &str) -> Option<f64> {
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The guidelines' range syntax: `[@][start:][end]`, start may be `~`.
fn is_range(t: &str) -> bool {
    let t = t.strip_prefix('@').unwrap_or(t);
    match t.split_once(':') {
        None => number(t).is_some(),
        Some((start, end)) => {
            (start.is_empty() || start == "~" || number(start).is_some())
                && (end.is_empty() || number(end).is_some())
        }
    }
}

impl fmt::Display for Perfdata {
    /// The guidelines' form, label quoted when it needs to be, trailing empty fields left
    /// off; `parse(item.to_string())` gives the item back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let needs_quotes = self
            .label
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '=')
            || self.label.is_empty();
        if needs_quotes {
            write!(f, "'{}'", self.label.replace('\'', "''"))?;
        } else {
            f.write_str(&self.label)?;
        }
        f.write_str("=")?;
        match self.value {
            Some(v) => write!(f, "{v}{}", self.uom)?,
            None => f.write_str("U")?,
        }
        let fields = [
            self.warn.clone(),
            self.crit.clone(),
            self.min.map(|v| v.to_string()),
            self.max.map(|v| v.to_string()),
        ];
        let last = fields.iter().rposition(Option::is_some);
        if let Some(last) = last {
            for field in &fields[..=last] {
                f.write_str(";")?;
                if let Some(t) = field {
                    f.write_str(t)?;
                }
            }
        }
        Ok(())
    }
}

/// Formats items the way plugins print them, space-separated.
pub fn format(items: &[Perfdata]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_guidelines_forms() {
        let (items, errors) = parse(
            "time=0.002103s;1.000000;10.000000;0.000000 size=326B;;;0 'free space'=41%;20:;10:;0;100 x=U",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(items.len(), 4);
        assert_eq!(items[0].label, "time");
        assert_eq!(items[0].value, Some(0.002103));
        assert_eq!(items[0].uom, "s");
        assert_eq!(items[0].warn.as_deref(), Some("1.000000"));
        assert_eq!(items[0].crit.as_deref(), Some("10.000000"));
        assert_eq!(items[0].min, Some(0.0));
        assert_eq!(items[0].max, None);
        assert_eq!(items[1].uom, "B");
        assert_eq!(items[1].warn, None);
        assert_eq!(items[2].label, "free space");
        assert_eq!(items[2].warn.as_deref(), Some("20:"));
        assert_eq!(items[2].max, Some(100.0));
        assert_eq!(items[3].value, None);
    }

    #[test]
    fn a_bad_item_is_an_error_and_the_rest_are_read() {
        let (items, errors) = parse("a=1 b=x c=2;foo d 'e=3");
        assert_eq!(items.len(), 1);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(matches!(errors[0], PerfdataError::BadValue { .. }));
        assert!(matches!(errors[1], PerfdataError::BadRange { .. }));
        assert!(matches!(errors[2], PerfdataError::NoEquals { .. }));
        assert!(matches!(errors[3], PerfdataError::Unterminated { .. }));
    }

    #[test]
    fn a_quote_inside_an_item_does_not_join_it_to_the_next() {
        // Found by the plugin_output fuzz target: a quote in the unit opened "quoted" mode
        // in the splitter, so the next item became part of this one's unit.
        let (items, errors) = parse("'a'''=1000ms'U b=2");
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0].label, "b");
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn inf_and_nan_are_not_numbers() {
        let (items, errors) = parse("a=inf b=NaN c=1e400");
        assert!(items.is_empty());
        assert_eq!(errors.len(), 3);
    }

    #[test]
    fn quoted_labels_round_trip() {
        let p = Perfdata::new("it's = here", 1.5, "ms");
        let text = p.to_string();
        assert_eq!(text, "'it''s = here'=1.5ms");
        let (items, errors) = parse(&text);
        assert!(errors.is_empty());
        assert_eq!(items, vec![p]);
    }
}
