#!/usr/bin/env bash
# Reagent adapter tests (issue 19): Crossbar.io is the real WAMP router the
# agent joins (wampcra, realm1), and autobahn (a crossbar dependency) runs the
# Python backend component that plays IronFlock's `reswarm.devices.*` side.
# About 3 minutes the first time (many dependencies).
source "$(dirname "$0")/../lib/deps.sh"
need_pip crossbar crossbar
"$VENV/bin/python" -c 'import autobahn' >/dev/null 2>&1 || {
  echo "deps: autobahn missing from $VENV after installing crossbar" >&2; exit 1; }
# crossbar 26.10.1 pins idna<2.6, which downgrades the shared venv's idna under
# anyio (idna>=2.8, schemathesis' stack). Crossbar runs fine on idna 3: put it back.
if ! "$VENV/bin/python" -c 'import idna, sys; sys.exit(int(idna.__version__.split(".")[0]) < 3)' 2>/dev/null; then
  echo "deps: restoring idna>=3 in $VENV (crossbar's pin downgrades it)" >&2
  "$VENV/bin/pip" install -q 'idna>=3' 2>/dev/null || true
fi
