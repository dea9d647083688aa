#!/usr/bin/env bash
# Fleet tests (issue 20): a three-node NATS cluster (JetStream + its MQTT listener) on
# loopback, started by the tests themselves.
source "$(dirname "$0")/../lib/deps.sh"
need_apt nats-server nats-server
