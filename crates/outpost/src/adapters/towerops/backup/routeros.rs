//! What a MikroTik router says over SSH, read the way Towerops' agent reads it (compat
//! doc §5): the commands a backup sends, the version's major number, which `/export` form
//! shows or hides secrets on that version, the model from the export's header, and the
//! verdict on an export's text. Pure functions over bytes from the device: they never
//! panic (`issue17_backup_routeros_text_never_panics`) and bound what they keep.

use outpost_proto::towerops::ConfigBackupErrorCode as Code;

/// Asks for the RouterOS version (`6.49.10 (long-term)`, `7.14.3 (stable)`).
pub const VERSION: &str = ":put [/system resource get version]";
/// Asks for the router's name.
pub const IDENTITY: &str = ":put [/system identity get name]";
/// The legacy `backup:` job's export.
pub const EXPORT_COMPACT: &str = "/export compact";
/// Metadata replies (version, identity, policies) kept at most (the original's cap).
pub const MAX_METADATA: usize = 64 << 10;
/// Bound on the error detail sent to the server.
pub const MAX_DETAIL: usize = 300;
/// Bound on a version, model or identity string kept.
const MAX_FIELD: usize = 255;

/// The major version in `text` (`7.14.3 (stable)` → 7). An unparseable one counts as 7,
/// as in the original: newer routers are the likelier unknown.
pub fn major(text: &str) -> u32 {
    let t = text.trim();
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(7)
}

/// The `/export` form for RouterOS `major`: secrets hidden by default from 7 on
/// (`show-sensitive` shows them), shown by default before (`hide-sensitive` hides them).
pub fn export_command(major: u32, include_secrets: bool) -> &'static str {
    match (major >= 7, include_secrets) {
        (true, true) => "/export show-sensitive",
        (true, false) => "/export",
        (false, true) => "/export",
        (false, false) => "/export hide-sensitive",
    }
}

/// The first line of a one-line reply, trimmed and bounded (`:put` answers).
pub fn one_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_METADATA)]);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    truncate(line.unwrap_or("").to_owned(), MAX_FIELD)
}

/// The model from the export's `# model = X` header line.
pub fn model(export: &str) -> String {
    let found = export.lines().find_map(|l| {
        let rest = l.trim().strip_prefix('#')?.trim_start();
        let value = rest.strip_prefix("model")?.trim_start().strip_prefix('=')?;
        Some(value.trim().to_owned())
    });
    truncate(found.unwrap_or_default(), MAX_FIELD)
}

/// What the device's words about a command mean, if they mean failure: RouterOS prints
/// errors on stdout and still exits 0.
pub fn refusal(text: &str) -> Option<(Code, String)> {
    for line in text.lines().map(str::trim) {
        let lower = line.to_ascii_lowercase();
        if lower.contains("not enough permissions") || lower.contains("no permission") {
            return Some((Code::PermissionDenied, line.to_owned()));
        }
        if lower.starts_with("failure:")
            || lower.starts_with("bad command")
            || lower.starts_with("expected end of command")
            || lower.starts_with("syntax error")
        {
            return Some((Code::ExportFailed, line.to_owned()));
        }
    }
    None
}

/// The verdict on an export: Ok, or why it is not a configuration.
pub fn judge_export(text: &str) -> Result<(), (Code, String)> {
    if let Some(r) = refusal(text) {
        return Err(r);
    }
    if text.trim().is_empty() {
        return Err((Code::ExportEmpty, "the export is empty".into()));
    }
    // An export starts with `#` comments and consists of `/menu` sections; text with
    // neither was cut off or is not an export at all.
    let looks = text
        .lines()
        .map(str::trim_start)
        .any(|l| l.starts_with('#') || l.starts_with('/'));
    if !looks {
        return Err((
            Code::ExportIncomplete,
            "the export has no header and no section".into(),
        ));
    }
    Ok(())
}

/// The user name quoted for a RouterOS string (`\`, `"` and `$` escaped); names with
/// brackets are refused: they could close the `[...]` around the lookup.
pub fn quoted_user(name: &str) -> Option<String> {
    if name.contains(['[', ']']) || name.chars().any(char::is_control) {
        return None;
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if matches!(c, '\\' | '"' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

/// PROBE's command: the policies of the user's group.
pub fn policy_command(user: &str) -> Option<String> {
    let q = quoted_user(user)?;
    Some(format!(
        ":put [/user group get [/user get [find name={q}] group] policy]"
    ))
}

/// The policy list (`read,write,!ftp;ssh`): split on `,` and `;`, `!`-denied entries
/// dropped.
pub fn policies(reply: &str) -> Vec<String> {
    reply
        .split([',', ';', '\n', '\r'])
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with('!'))
        .take(64)
        .map(|p| truncate(p.to_owned(), MAX_FIELD))
        .collect()
}

/// An error detail as the server may see it: the first non-empty line, `password`
/// replaced wherever it appears, at most [`MAX_DETAIL`] bytes.
pub fn detail(text: &str, password: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let scrubbed = if password.is_empty() {
        line.to_owned()
    } else {
        let s = line.replace(password, "[redacted]");
        // The marker and its neighbours can spell the password again (`ted]`): then
        // nothing of the line is shown.
        if s.contains(password) {
            "(detail withheld: it held the password)".to_owned()
        } else {
            s
        }
    };
    truncate(scrubbed, MAX_DETAIL)
}

/// `s` cut to at most `max` bytes on a character boundary.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue17_backup_export_form_by_version_and_secrets() {
        assert_eq!(major("7.14.3 (stable)"), 7);
        assert_eq!(major("6.49.10 (long-term)\r\n"), 6);
        assert_eq!(major("garbage"), 7);
        assert_eq!(major(""), 7);
        assert_eq!(export_command(7, true), "/export show-sensitive");
        assert_eq!(export_command(7, false), "/export");
        assert_eq!(export_command(6, true), "/export");
        assert_eq!(export_command(6, false), "/export hide-sensitive");
    }

    #[test]
    fn issue17_backup_export_verdicts() {
        let ok =
            "# 2026 by RouterOS 7.14\n# model = RB4011iGS+\n/ip address\nadd address=1.2.3.4/24\n";
        assert_eq!(judge_export(ok), Ok(()));
        assert_eq!(model(ok), "RB4011iGS+");
        assert_eq!(model("#model=hAP\r\n"), "hAP");
        assert_eq!(model("/ip address\n"), "");
        assert_eq!(judge_export(" \r\n").unwrap_err().0, Code::ExportEmpty);
        assert_eq!(
            judge_export("some words\nmore words\n").unwrap_err().0,
            Code::ExportIncomplete
        );
        assert_eq!(
            judge_export("not enough permissions (9)\n").unwrap_err().0,
            Code::PermissionDenied
        );
        assert_eq!(
            judge_export("failure: no such item\n").unwrap_err().0,
            Code::ExportFailed
        );
        assert_eq!(
            judge_export("bad command name export (line 1 column 2)")
                .unwrap_err()
                .0,
            Code::ExportFailed
        );
    }

    #[test]
    fn issue17_backup_detail_is_one_scrubbed_bounded_line() {
        let d = detail("\n  login with pw hunter2 failed\nsecond line", "hunter2");
        assert_eq!(d, "login with pw [redacted] failed");
        assert!(!detail("[redacted] pw", "ted]").contains("ted]"));
        let long = "é".repeat(400);
        let d = detail(&long, "x");
        assert!(d.len() <= MAX_DETAIL && d.is_char_boundary(d.len()));
    }

    #[test]
    fn issue17_backup_probe_quoting_and_policies() {
        assert_eq!(
            policy_command(r#"a"b\c$d"#).unwrap(),
            r#":put [/user group get [/user get [find name="a\"b\\c\$d"] group] policy]"#
        );
        assert_eq!(policy_command("x]y"), None);
        assert_eq!(
            policies("local,telnet,!ftp;ssh,read\r\n"),
            ["local", "telnet", "ssh", "read"]
        );
    }
}
