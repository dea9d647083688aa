#!/usr/bin/env bash
# Uplink tests: a real Mosquitto broker, started by the tests themselves.
source "$(dirname "$0")/../lib/deps.sh"
need_apt mosquitto mosquitto mosquitto-clients
