//! `outpost generate`: shell completions and man pages, from the same clap definitions that
//! parse the command line. Packaging runs it after the build (`packaging/deb/build.sh`), so
//! what a package installs cannot drift from the flags the binary takes.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::Context;
use clap::{CommandFactory, Subcommand, ValueEnum};
use clap_complete::Shell;

/// The name the completions and man pages are generated for (the installed binary's).
const BIN: &str = "outpost";

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Shell completion scripts: outpost.bash, _outpost (zsh), outpost.fish.
    Completions {
        /// One shell (repeatable). Default: bash, zsh and fish.
        #[arg(long, value_enum, value_name = "SHELL")]
        shell: Vec<CompletionShell>,
        /// Directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Man pages (section 1): outpost.1 and one per subcommand (outpost-config-check.1, ...).
    Man {
        /// Directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// The shells Debian packages carry completions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl CompletionShell {
    fn shell(self) -> Shell {
        match self {
            CompletionShell::Bash => Shell::Bash,
            CompletionShell::Zsh => Shell::Zsh,
            CompletionShell::Fish => Shell::Fish,
        }
    }
}

pub fn run(cmd: GenerateCommand) -> anyhow::Result<()> {
    match cmd {
        GenerateCommand::Completions { shell, out } => {
            let shells = if shell.is_empty() {
                vec![
                    CompletionShell::Bash,
                    CompletionShell::Zsh,
                    CompletionShell::Fish,
                ]
            } else {
                shell
            };
            create_dir(&out)?;
            for s in shells {
                let mut cmd = crate::cli::Cli::command();
                let path = clap_complete::generate_to(s.shell(), &mut cmd, BIN, &out)
                    .with_context(|| format!("writing {s:?} completions into {}", out.display()))?;
                println!("{}", path.display());
            }
        }
        GenerateCommand::Man { out } => {
            create_dir(&out)?;
            for path in man_pages(&out)? {
                println!("{}", path.display());
            }
        }
    }
    Ok(())
}

/// Writes `outpost.1` and a page per visible subcommand, at every depth, named the way
/// git's are (`outpost-config-check.1`, clap's display name); returns their paths.
fn man_pages(out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    // clap's `help` subcommand is documented on every page already. Built so every
    // subcommand carries its display name and full usage ("outpost config check").
    let mut cmd = crate::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let head = Head {
        date: page_date(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref()),
        source: format!("outpost {}", env!("CARGO_PKG_VERSION")),
    };
    let mut written = Vec::new();
    write_pages(&cmd, &head, out, &mut written)?;
    Ok(written)
}

/// What every page's `.TH` line shares.
struct Head {
    date: String,
    source: String,
}

fn write_pages(
    cmd: &clap::Command,
    head: &Head,
    out: &Path,
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let path = clap_mangen::Man::new(cmd.clone())
        .date(head.date.clone())
        .source(head.source.clone())
        .manual("Outpost Manual")
        .generate_to(out)
        .with_context(|| {
            format!(
                "writing the man page of {} into {}",
                cmd.get_name(),
                out.display()
            )
        })?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, head, out, written)?;
    }
    Ok(())
}

/// The pages' date, `YYYY-MM-DD` (UTC): `SOURCE_DATE_EPOCH` when the build sets it (so a
/// package rebuilt from the same source is byte-identical), else today.
fn page_date(source_date_epoch: Option<&str>) -> String {
    let secs = source_date_epoch
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    let (y, m, d) = outpost_core::clock::civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue16_man_page_date_follows_source_date_epoch() {
        assert_eq!(page_date(Some("0")), "1970-01-01");
        assert_eq!(page_date(Some("951782400")), "2000-02-29");
        assert_eq!(page_date(Some("1795651200")), "2026-11-26");
        // Not a number: today, still a date.
        assert_eq!(page_date(Some("soon")).len(), 10);
    }
}
