#!/usr/bin/env bash
# Fleet benchmark (issue 20, bench/fleet/): Mosquitto, and paho-mqtt in the test venv for the
# controller that sends the jobs and collects the results.
source "$(dirname "$0")/../lib/deps.sh"
need_apt mosquitto mosquitto mosquitto-clients
need_apt_pkg python3-venv
# need_pip tests for a binary in the venv and paho-mqtt installs none: test the import.
[ -x "$VENV/bin/pip" ] || /usr/bin/python3 -m venv "$VENV"
if ! "$VENV/bin/python" -c 'import paho.mqtt.client' >/dev/null 2>&1; then
  echo "deps: pip installing paho-mqtt into $VENV" >&2
  "$VENV/bin/pip" install -q 'paho-mqtt>=2,<3'
  "$VENV/bin/python" -c 'import paho.mqtt.client' || { echo "deps: paho-mqtt still missing" >&2; exit 1; }
fi
