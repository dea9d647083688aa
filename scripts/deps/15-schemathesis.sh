#!/usr/bin/env bash
# API fuzzing from the OpenAPI document (issue 10): schemathesis in the test venv, driven by
# crates/outpost/tests/issue10_schemathesis.rs and bench/api_fuzz.sh.
source "$(dirname "$0")/../lib/deps.sh"
need_apt_pkg python3-venv
need_pip st schemathesis
