#!/usr/bin/env bash
# Self-update (issue 16): strace, whose syscall fault injection kills `outpost update
# apply` with SIGKILL at each step of the binary swap (tests/issue16_update_cli.rs).
source "$(dirname "$0")/../lib/deps.sh"
need_apt strace strace
