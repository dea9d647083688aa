#!/usr/bin/env bash
# Probes (issue 14): fping (the reference `outpost ping` is compared and benchmarked
# against), iproute2 and procps (the namespace tests: `ip netns`, `sysctl`), dnsmasq (the
# DNS checks' server) and Debian's Nagios plugins (check.nagios).
source "$(dirname "$0")/../lib/deps.sh"
need_apt fping fping
need_apt ip iproute2
need_apt sysctl procps
need_apt_pkg dnsmasq-base monitoring-plugins-basic
