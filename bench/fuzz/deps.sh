#!/usr/bin/env bash
# What bench/fuzz/run.sh needs, installed when missing: cargo-fuzz and llvm-symbolizer
# (libFuzzer's -print_coverage symbolizes through it). Not in scripts/deps/: the test suite
# does not fuzz, so CI does not install these.
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/deps.sh"
need_apt llvm-symbolizer llvm
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "deps: cargo install cargo-fuzz" >&2
  cargo install --locked cargo-fuzz
fi
# capture.py's peers: snmpd, snmptrapd and the net-snmp tools.
need_apt snmpd snmpd
need_apt snmptrapd snmptrapd
need_apt snmpget snmp
