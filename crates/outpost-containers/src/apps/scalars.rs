//! The Compose scalar syntaxes: command words, durations, byte sizes and restart
//! policies. Each parser returns a message; the caller adds the position and path.

use crate::run_spec::RestartPolicy;

/// Splits a command line into words the way Compose does (POSIX shell quoting, no
/// expansion, no shell): blanks separate words; '...' is literal; "..." keeps `\"`, `\\`,
/// `\$` and `` \` `` as escapes; a backslash outside quotes takes the next character as is.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    cur.push(c);
                }
                None => return Err("a trailing backslash escapes nothing".into()),
            },
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// A Go/Compose duration (`1m30s`, `1.5s`, `500ms`, `2h`) in whole milliseconds.
pub fn duration_ms(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a duration like 30s, 1m30s or 500ms");
    if s.is_empty() {
        return Err(bad());
    }
    let mut ns: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, tail) = rest.split_at(num_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let per: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if (int.is_empty() && frac.is_empty()) || frac.contains('.') || frac.len() > 9 {
            return Err(bad());
        }
        let i: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        let mut part = i.checked_mul(per).ok_or_else(bad)?;
        if !frac.is_empty() {
            let f: u128 = frac.parse().map_err(|_| bad())?;
            let scale = 10u128.pow(frac.len() as u32);
            part = part
                .checked_add(f.checked_mul(per).ok_or_else(bad)? / scale)
                .ok_or_else(bad)?;
        }
        ns = ns.checked_add(part).ok_or_else(bad)?;
        rest = tail;
    }
    if ns % 1_000_000 != 0 {
        return Err(format!("`{s}` is not a whole number of milliseconds"));
    }
    u64::try_from(ns / 1_000_000).map_err(|_| bad())
}

/// A byte size as Docker reads one (`512m`, `1g`, `1.5GiB`, `1024`): binary multiples.
pub fn bytes(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a size like 512m, 1g or 1048576");
    let t = s.trim();
    let num_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_len);
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    if !num.contains('.') {
        // Whole numbers exactly (a float loses bytes above 2^53).
        let v: u64 = num.parse().map_err(|_| bad())?;
        return match v.checked_mul(1u64 << shift) {
            Some(b) if b > 0 => Ok(b),
            _ => Err(bad()),
        };
    }
    let v: f64 = num.parse().map_err(|_| bad())?;
    let b = v * (1u64 << shift) as f64;
    if !(b.is_finite() && b >= 1.0 && b < u64::MAX as f64) {
        return Err(bad());
    }
    Ok(b as u64)
}

pub fn restart(s: &str) -> Result<RestartPolicy, String> {
    match s {
        "no" => Ok(RestartPolicy::No),
        "always" => Ok(RestartPolicy::Always),
        "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
        "on-failure" => Ok(RestartPolicy::OnFailure { max_retries: None }),
        _ => match s.strip_prefix("on-failure:").map(str::parse::<u32>) {
            Some(Ok(n)) => Ok(RestartPolicy::OnFailure {
                max_retries: Some(n),
            }),
            _ => Err(format!(
                "`{s}` is not one of no, always, on-failure[:N], unless-stopped"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_a_shell_without_one() {
        assert_eq!(
            split_words(r#"sh -c 'echo "$HOME"' "a b" c\ d"#).unwrap(),
            vec!["sh", "-c", "echo \"$HOME\"", "a b", "c d"]
        );
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_words("''").unwrap(), vec![""]);
        assert!(split_words("'open").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms("1m30s"), Ok(90_000));
        assert_eq!(duration_ms("1.5s"), Ok(1_500));
        assert_eq!(duration_ms("500ms"), Ok(500));
        assert_eq!(duration_ms("2h"), Ok(7_200_000));
        assert!(duration_ms("30").is_err());
        assert!(duration_ms("1x").is_err());
        assert!(duration_ms("10us").is_err());
        assert!(duration_ms("").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes("512m"), Ok(512 << 20));
        assert_eq!(bytes("1g"), Ok(1 << 30));
        assert_eq!(bytes("1.5GiB"), Ok(3 << 29));
        assert_eq!(bytes("1024"), Ok(1024));
        assert_eq!(bytes("64 MB"), Ok(64 << 20));
        assert!(bytes("lots").is_err());
        assert!(bytes("0").is_err());
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            restart("on-failure:3"),
            Ok(RestartPolicy::OnFailure {
                max_retries: Some(3)
            })
        );
        assert!(restart("sometimes").is_err());
    }
}
