#!/usr/bin/env bash
# The router build (issue 16): shellcheck lints scripts/build-router.sh.
source "$(dirname "$0")/../lib/deps.sh"
need_apt shellcheck shellcheck
