#!/usr/bin/env bash
# SNMP tests: net-snmp snmpd and tools as the reference peer, snmpsim with
# real-device recordings, prometheus-snmp-exporter for the polling benchmark.
source "$(dirname "$0")/../lib/deps.sh"
need_apt snmpd snmpd
need_apt snmpbulkwalk snmp
need_apt snmptrapd snmptrapd
need_apt prometheus-snmp-exporter prometheus-snmp-exporter
need_apt curl curl
# The snmpsim test reads .snmprec.bz2 recordings to find generated values.
need_apt bzcat bzip2
# Debian's python for the venv: snmpsim drops privileges to nobody, which
# cannot read a python under /root. gdbm keeps recording indexing fast.
need_apt_pkg python3-venv python3-gdbm
need_pip snmpsim-command-responder snmpsim snmpsim-data cryptography
