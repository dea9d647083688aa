#!/usr/bin/env bash
# socktop parity tests (issue 10): socktop_agent 1.60.1 is the reference peer
# the per-process memory test compares Outpost against. It links libdrm (its
# AMD/Intel GPU reader), so the headers come first. Built once, about 2 minutes.
source "$(dirname "$0")/../lib/deps.sh"
need_apt_pkg libdrm-dev pkg-config
if ! command -v socktop_agent >/dev/null 2>&1; then
  echo "deps: cargo install socktop_agent 1.60.1 (about 2 minutes)" >&2
  nice -n 19 cargo install socktop_agent --version 1.60.1 --locked -q
  command -v socktop_agent >/dev/null 2>&1 || { echo "deps: socktop_agent still missing after cargo install" >&2; exit 1; }
fi
# socktop's own TUI (1.60.1), driven in tmux to show its process view filled.
need_apt tmux tmux
if ! command -v socktop >/dev/null 2>&1; then
  echo "deps: cargo install socktop 1.60.1 (the TUI, a few minutes)" >&2
  nice -n 19 cargo install socktop --version 1.60.1 --locked -q
  command -v socktop >/dev/null 2>&1 || { echo "deps: socktop still missing after cargo install" >&2; exit 1; }
fi
# The journal test writes a real journal file from journal export text with
# systemd-journal-remote and reads it back with the real journalctl.
need_apt_pkg systemd-journal-remote
