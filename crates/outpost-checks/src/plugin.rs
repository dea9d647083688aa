//! The Nagios plugin API's output, and a plugin run as a [`CheckResult`].
//!
//! A plugin prints (Nagios Plugin API, "Plugin Output"):
//!
//! ```text
//! TEXT OUTPUT | OPTIONAL PERFDATA
//! LONG TEXT LINE 1
//! LONG TEXT LINE N | PERFDATA LINE 2
//! PERFDATA LINE 3
//! ```
//!
//! The first line's text is the output; the lines after it are long output until one holds a
//! `|`, and everything after that `|` (the rest of its line and every later line) is more
//! perfdata. Its exit code is the state.

use std::time::Duration;

use crate::perfdata::{self, Perfdata, PerfdataError};
use crate::result::{CheckResult, Status};

/// Longest first line kept, in bytes (Nagios 4 keeps 8 KiB of a plugin's output in all).
pub const MAX_OUTPUT: usize = 4096;

/// What Nagios shows for a plugin that printed nothing.
pub const NO_OUTPUT: &str = "(No output returned from plugin)";

/// A plugin's stdout, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginOutput {
    /// The first line without its perfdata, trimmed.
    pub output: String,
    /// The further lines of text, without perfdata; `None` when there are none.
    pub long_output: Option<String>,
    pub perfdata: Vec<Perfdata>,
    /// Perfdata items that could not be read (the rest are kept).
    pub perfdata_errors: Vec<PerfdataError>,
}

/// Reads a plugin's stdout.
pub fn parse_output(stdout: &str) -> PluginOutput {
    let mut lines = stdout.lines();
    let first = lines.next().unwrap_or("");
    let (output, first_perf) = match first.split_once('|') {
        Some((text, perf)) => (text, Some(perf)),
        None => (first, None),
    };
    let mut perf_text = String::new();
    if let Some(p) = first_perf {
        perf_text.push_str(p);
    }
    let mut long = Vec::new();
    let mut in_perf = false;
    for line in lines {
        if in_perf {
            perf_text.push(' ');
            perf_text.push_str(line);
        } else if let Some((text, perf)) = line.split_once('|') {
            long.push(text);
            perf_text.push(' ');
            perf_text.push_str(perf);
            in_perf = true;
        } else {
            long.push(line);
        }
    }
    // Trailing blank lines are a plugin's final newline habits, not output.
    while long.last().is_some_and(|l| l.trim().is_empty()) {
        long.pop();
    }
    let long_output = (!long.is_empty()).then(|| {
        let mut t = long.join("\n");
        truncate(&mut t, 8 * MAX_OUTPUT);
        t
    });
    let (perfdata, perfdata_errors) = perfdata::parse(&perf_text);
    let mut output = output.trim().to_string();
    truncate(&mut output, MAX_OUTPUT);
    PluginOutput {
        output,
        long_output,
        perfdata,
        perfdata_errors,
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// How a plugin's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginExit {
    Exited(i32),
    Signaled(i32),
    /// Killed by the runner at its timeout.
    TimedOut(Duration),
}

/// A plugin run as a check result. The exit code is the state (anything outside 0..=3 is
/// UNKNOWN, as Nagios reads it); a timeout is CRITICAL, as Nagios 4's default
/// `service_check_timeout_state`; a signal is UNKNOWN. When stdout is empty the first line
/// of stderr stands in (a plugin that fails to start says why there), else [`NO_OUTPUT`].
pub fn result(exit: PluginExit, stdout: &str, stderr: &str, elapsed: Duration) -> CheckResult {
    let parsed = parse_output(stdout);
    let (status, fallback) = match exit {
        PluginExit::Exited(code) => (Status::from_exit_code(code), None),
        PluginExit::Signaled(sig) => (
            Status::Unknown,
            Some(format!("(plugin killed by signal {sig})")),
        ),
        PluginExit::TimedOut(after) => (
            Status::Critical,
            Some(format!(
                "(plugin timed out after {:.1} s)",
                after.as_secs_f64()
            )),
        ),
    };
    let output = match (parsed.output.is_empty(), fallback) {
        // The runner's reason first: it is why the state is what it is.
        (_, Some(reason)) if parsed.output.is_empty() => reason,
        (_, Some(reason)) => format!("{reason} {}", parsed.output),
        (false, None) => parsed.output,
        (true, None) => match stderr.lines().map(str::trim).find(|l| !l.is_empty()) {
            Some(line) => {
                let mut l = line.to_string();
                truncate(&mut l, MAX_OUTPUT);
                l
            }
            None => NO_OUTPUT.to_string(),
        },
    };
    let mut r = CheckResult::new(status, output, elapsed);
    r.long_output = parsed.long_output;
    r.perfdata = parsed.perfdata;
    if !parsed.perfdata_errors.is_empty() {
        let errors: Vec<String> = parsed
            .perfdata_errors
            .iter()
            .take(16)
            .map(ToString::to_string)
            .collect();
        r.details = serde_json::json!({ "perfdata_errors": errors });
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_plugin_api_example() {
        let out = parse_output(
            "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n\
             / 15272 MB (77%);\n\
             /boot 68 MB (69%);\n\
             /home 69357 MB (27%);\n\
             /var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n\
             /home=69357MB;253404;253409;0;253414 \n\
             /var/log=818MB;970;975;0;980\n",
        );
        assert_eq!(out.output, "DISK OK - free space: / 3326 MB (56%);");
        assert_eq!(
            out.long_output.as_deref(),
            Some("/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n/var/log 819 MB (84%); ")
        );
        let labels: Vec<&str> = out.perfdata.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["/", "/boot", "/home", "/var/log"]);
        assert_eq!(out.perfdata[3].max, Some(980.0));
        assert!(out.perfdata_errors.is_empty());
    }

    #[test]
    fn exit_codes_map_to_states() {
        let ms = Duration::from_millis(3);
        for (code, status) in [
            (0, Status::Ok),
            (1, Status::Warning),
            (2, Status::Critical),
            (3, Status::Unknown),
            (4, Status::Unknown),
            (127, Status::Unknown),
            (-1, Status::Unknown),
        ] {
            assert_eq!(
                result(PluginExit::Exited(code), "x", "", ms).status,
                status,
                "{code}"
            );
        }
        let t = result(
            PluginExit::TimedOut(Duration::from_secs(10)),
            "",
            "",
            Duration::from_secs(10),
        );
        assert_eq!(t.status, Status::Critical);
        assert_eq!(t.output, "(plugin timed out after 10.0 s)");
        let s = result(PluginExit::Signaled(9), "half", "", ms);
        assert_eq!(s.status, Status::Unknown);
        assert_eq!(s.output, "(plugin killed by signal 9) half");
    }

    #[test]
    fn empty_stdout_falls_back_to_stderr_then_nagios_text() {
        let ms = Duration::from_millis(1);
        let r = result(PluginExit::Exited(3), "", "\ncheck_x: bad option -Z\n", ms);
        assert_eq!(r.output, "check_x: bad option -Z");
        let r = result(PluginExit::Exited(0), "\n", "", ms);
        assert_eq!(r.output, NO_OUTPUT);
    }

    #[test]
    fn bad_perfdata_is_reported_and_the_output_kept() {
        let r = result(
            PluginExit::Exited(0),
            "OK | a=1 b=zz",
            "",
            Duration::from_millis(1),
        );
        assert_eq!(r.output, "OK");
        assert_eq!(r.perfdata.len(), 1);
        assert!(r.details["perfdata_errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("zz")));
    }

    #[test]
    fn long_first_lines_are_cut_on_a_char_boundary() {
        let line = "é".repeat(MAX_OUTPUT);
        let out = parse_output(&line);
        assert!(out.output.len() <= MAX_OUTPUT);
        assert!(out.output.chars().all(|c| c == 'é'));
    }
}
