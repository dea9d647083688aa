//! A rusty_agent command line (`/agent/command/execute`) as an exec [`Request`]: never a
//! shell. The text is split on whitespace; the first word names an allowlisted command and
//! the others fill its parameters in the order they appear in its argv template. Text with
//! any shell metacharacter is not a plain command line: it can only be an inline `sh`
//! script, which the exec component runs when `exec.allow_inline` is on and refuses (and
//! audits) otherwise.

use std::collections::HashMap;

use outpost_exec::{Allowlist, ArgTemplate, CommandName, Request};
use serde_json::Value;

/// Each allowlisted command's parameter names, in the order of its argv template: all the
/// adapter keeps of the allowlist (none of its environment values, which may be secret).
#[derive(Debug, Clone, Default)]
pub struct ParamOrder(HashMap<String, Vec<String>>);

impl ParamOrder {
    pub fn of(allowlist: &Allowlist) -> Self {
        let mut map = HashMap::new();
        for spec in allowlist.iter() {
            let mut names: Vec<String> = Vec::new();
            for a in &spec.argv {
                if let ArgTemplate::Param(p) = a {
                    if !names.contains(p) {
                        names.push(p.clone());
                    }
                }
            }
            map.insert(spec.name.to_string(), names);
        }
        ParamOrder(map)
    }

    fn get(&self, name: &str) -> Option<&[String]> {
        self.0.get(name).map(Vec::as_slice)
    }
}

/// Characters a shell would interpret: quoting, expansion, redirection, sequencing, globs,
/// comments, substitution, and control characters (a newline is a command separator).
pub fn shell_meta(text: &str) -> Option<char> {
    text.chars().find(|c| {
        matches!(
            c,
            '|' | '&'
                | ';'
                | '<'
                | '>'
                | '('
                | ')'
                | '$'
                | '`'
                | '\\'
                | '"'
                | '\''
                | '*'
                | '?'
                | '['
                | ']'
                | '#'
                | '~'
                | '{'
                | '}'
                | '!'
                | '='
                | '%'
        ) || (c.is_control() && !matches!(c, ' ' | '\t'))
    })
}

/// What a command line becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// An allowlisted command (or a name exec will refuse as unknown, audited).
    Command(Request),
    /// Shell text: an inline `sh` script, with the reason it is not a plain command line.
    Shell { request: Request, why: String },
    /// Nothing to run.
    Empty,
}

/// Maps `text`. `inline_on` says whether exec runs inline scripts: then a line naming no
/// allowlisted command runs as one too (rusty_agent ran every line through `sh -c`).
pub fn map(text: &str, order: &ParamOrder, inline_on: bool) -> Mapped {
    if text.trim().is_empty() {
        return Mapped::Empty;
    }
    let shell = |why: String| Mapped::Shell {
        request: Request::inline(text.as_bytes(), Some("sh")),
        why,
    };
    if let Some(c) = shell_meta(text) {
        return shell(format!("shell metacharacter {c:?}"));
    }
    let mut words = text.split_whitespace();
    let Some(first) = words.next() else {
        return Mapped::Empty;
    };
    // Only an ASCII name can match (a look-alike never does); exec checks it again.
    let names = CommandName::parse(first)
        .ok()
        .and_then(|_| order.get(first));
    let Some(names) = names else {
        if inline_on {
            return shell(format!("{first:?} is not an allowlisted command"));
        }
        // Exec refuses it as an unknown command (or a bad name), and audits the attempt.
        return Mapped::Command(Request::command(first));
    };
    let mut req = Request::command(first);
    for (i, w) in words.enumerate() {
        // A word beyond the declared parameters keeps its position as its name, so exec
        // refuses it as an unknown parameter, by name, in the audit log.
        let name = names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("word{}", i + 2));
        req.params.insert(name, Value::String(w.to_owned()));
    }
    Mapped::Command(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize as _;

    fn allow() -> ParamOrder {
        let t: toml::Value = toml::from_str(
            r#"
[ping]
argv = ["/bin/echo", "-c", "{count}", "--", "{host}"]
params.count = { type = "integer", min = 1, max = 10 }
params.host = { type = "string", pattern = "[a-z0-9.-]+" }
"#,
        )
        .unwrap();
        ParamOrder::of(&Allowlist::deserialize(t).unwrap())
    }

    #[test]
    fn issue13_rusty_words_fill_params_in_argv_order_and_shell_text_is_never_a_command() {
        let a = allow();
        let Mapped::Command(r) = map("ping 3 example.org", &a, false) else {
            panic!()
        };
        assert_eq!(r.command.as_deref(), Some("ping"));
        assert_eq!(r.params["count"], "3");
        assert_eq!(r.params["host"], "example.org");
        let Mapped::Command(r) = map("ping 3 a b", &a, false) else {
            panic!()
        };
        assert!(r.params.contains_key("word4"));
        for bad in [
            "ping 3 a;rm",
            "ping $(id)",
            "ping `id`",
            "ping 3 a | sh",
            "ping 3 a\nrm -rf /",
            "ping > /etc/passwd",
            "ping 'a'",
            "A=1 ping",
        ] {
            assert!(
                matches!(map(bad, &a, false), Mapped::Shell { .. }),
                "{bad:?}"
            );
        }
        assert!(matches!(
            map("rm -rf /", &a, false),
            Mapped::Command(Request { command: Some(ref c), .. }) if c == "rm"
        ));
        assert!(matches!(map("rm -rf /", &a, true), Mapped::Shell { .. }));
        assert_eq!(map("  \t ", &a, false), Mapped::Empty);
    }
}
