#!/usr/bin/env bash
# Logging tests (issue 18): a real rsyslogd, started by the test on its own socket and
# config, writing what it receives to a file. Not enabled as a service.
source "$(dirname "$0")/../lib/deps.sh"
need_apt rsyslogd rsyslog
