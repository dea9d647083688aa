# Sourced by scripts/deps/*.sh: install what the tests need, only when it is missing.
# Each scripts/deps/NN-name.sh has one owner and installs the peers of one part.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${OUTPOST_TEST_VENV:-$ROOT/venv}"

_apt_updated=0
# need_apt BIN PACKAGE...: install PACKAGEs unless command BIN already exists.
need_apt() {
  local bin="$1"; shift
  if command -v "$bin" >/dev/null 2>&1; then return 0; fi
  echo "deps: installing $* (for $bin)" >&2
  if [ "$_apt_updated" = 0 ]; then apt-get update -qq; _apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  command -v "$bin" >/dev/null 2>&1 || { echo "deps: $bin still missing after installing $*" >&2; exit 1; }
}

# need_pip MODULE_OR_BIN PACKAGE...: install PACKAGEs into the test venv unless venv/bin/NAME exists.
need_pip() {
  local bin="$1"; shift
  if [ -x "$VENV/bin/$bin" ]; then return 0; fi
  need_apt dpkg-query true
  if ! /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    need_apt_pkg python3-venv
  fi
  [ -x "$VENV/bin/pip" ] || /usr/bin/python3 -m venv "$VENV"
  echo "deps: pip installing $* into $VENV" >&2
  "$VENV/bin/pip" install -q "$@"
  [ -x "$VENV/bin/$bin" ] || { echo "deps: $VENV/bin/$bin still missing after pip install $*" >&2; exit 1; }
}

# need_apt_pkg PACKAGE...: install PACKAGEs unless dpkg already has them.
need_apt_pkg() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "deps: installing ${missing[*]}" >&2
  if [ "$_apt_updated" = 0 ]; then apt-get update -qq; _apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
