#!/usr/bin/env bash
# The router build (issue 16 §5): `outpost --no-default-features` (SNMP jobs and traps, the
# MQTT uplink, host metrics and the stats push, the local API, the store), profile
# release-small, stripped; prints the stripped size.
#
#   scripts/build-router.sh                 stable toolchain: the documented default
#   scripts/build-router.sh --build-std     nightly: std rebuilt for size, panics abort at
#                                           once (no unwind tables, no panic messages)
#   options: --features F1,F2  add features    --target TRIPLE  (default: the host's)
#            -o FILE  where the stripped binary goes (default target/router/outpost)
#            --full-sqlite  keep SQLite's optional modules (see lean_sqlite_flags below)
#   env: ROUTER_TOOLCHAIN  the nightly toolchain --build-std uses (default: nightly)
#
# --build-std is how embedded and OpenWrt Rust builds are made (OpenWrt's MIPS targets are
# tier 3: no prebuilt std at all). It needs a nightly toolchain with rust-src:
#   rustup toolchain install nightly --component rust-src
# A panic there aborts without a message: run the stable build to see one. Cross targets
# need their own C compiler and linker (CC_<triple>, CARGO_TARGET_<TRIPLE>_LINKER).
set -euo pipefail
cd "$(dirname "$0")/.."

build_std=0
features=""
target=""
out=""
lean_sqlite=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build-std) build_std=1 ;;
    --features) features="${2:?--features needs a list}"; shift ;;
    --target) target="${2:?--target needs a triple}"; shift ;;
    -o) out="${2:?-o needs a file}"; shift ;;
    --full-sqlite) lean_sqlite=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "build-router.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# SQLite's optional modules the store never uses (full-text search, R-trees, JSON SQL
# functions, loadable extensions, dbstat, soundex, stat4): about 0.37 MB of the bundled
# library. The store's SQL uses none of them (crates/outpost-core/src/store). Changing this
# rebuilds libsqlite3-sys. The progress callback and the authorizer stay: rusqlite's `hooks`
# feature (the store's WAL hook) links sqlite3_progress_handler and sqlite3_set_authorizer.
lean_sqlite_flags=(
  -USQLITE_ENABLE_FTS3 -USQLITE_ENABLE_FTS3_PARENTHESIS -USQLITE_ENABLE_FTS5
  -USQLITE_ENABLE_RTREE -USQLITE_ENABLE_DBSTAT_VTAB -USQLITE_SOUNDEX -USQLITE_ENABLE_STAT4
  -USQLITE_ENABLE_JSON1 -DSQLITE_OMIT_JSON -USQLITE_ENABLE_LOAD_EXTENSION
  -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_DEPRECATED -DSQLITE_OMIT_SHARED_CACHE
  -DSQLITE_DEFAULT_MEMSTATUS=0 -USQLITE_ENABLE_COLUMN_METADATA
  -USQLITE_ENABLE_MEMORY_MANAGEMENT -DSQLITE_OMIT_DATETIME_FUNCS -DSQLITE_OMIT_UTF16
  -DSQLITE_OMIT_DECLTYPE -DSQLITE_OMIT_COMPLETE
  -DSQLITE_OMIT_GET_TABLE -DSQLITE_OMIT_TCL_VARIABLE
  -DSQLITE_OMIT_COMPILEOPTION_DIAGS -DSQLITE_OMIT_INTROSPECTION_PRAGMAS -DSQLITE_OMIT_TRACE
)
if [ "$lean_sqlite" = 1 ]; then
  export LIBSQLITE3_FLAGS="${LIBSQLITE3_FLAGS:-${lean_sqlite_flags[*]}}"
fi

args=(build --profile release-small -p outpost --no-default-features --locked)
[ -n "$features" ] && args+=(--features "$features")
toolchain=()
if [ "$build_std" = 1 ]; then
  nightly="${ROUTER_TOOLCHAIN:-nightly}"
  if ! rustc "+$nightly" --version >/dev/null 2>&1; then
    echo "build-router.sh: --build-std needs a nightly toolchain ($nightly is missing):" >&2
    echo "  rustup toolchain install $nightly --component rust-src" >&2
    exit 1
  fi
  if ! rustc "+$nightly" --version | grep -qE -- '-(nightly|dev)'; then
    echo "build-router.sh: --build-std needs a nightly toolchain; $nightly is $(rustc "+$nightly" --version)" >&2
    exit 1
  fi
  sysroot="$(rustc "+$nightly" --print sysroot)"
  if [ ! -f "$sysroot/lib/rustlib/src/rust/library/std/Cargo.toml" ]; then
    echo "build-router.sh: --build-std needs $nightly's std sources (rust-src):" >&2
    echo "  rustup component add rust-src --toolchain $nightly" >&2
    exit 1
  fi
  toolchain=("+$nightly")
  # build-std needs an explicit target; the host's by default.
  [ -n "$target" ] || target="$(rustc "+$nightly" -vV | sed -n 's/^host: //p')"
  args+=(-Z "build-std=std,panic_abort" -Z build-std-features=optimize_for_size)
  # panic=immediate-abort: no panic machinery or messages in std or in our code; with
  # nothing to unwind, no unwind tables either (Rust's, and the C code's: SQLite, ring).
  # location-detail=none: no file/line strings for #[track_caller] (panic locations, which
  # immediate-abort never prints). With --target set, RUSTFLAGS reach only the target's
  # crates, not build scripts. fmt-debug=shallow: a derived Debug prints only the type or
  # variant name (about 55 KB); std's own Debug (strings, numbers, collections) and every
  # Display, which the API's and the CLI's messages use, are unchanged.
  export RUSTFLAGS="${RUSTFLAGS:-} -Zunstable-options -Cpanic=immediate-abort -Cforce-unwind-tables=no -Zlocation-detail=none -Zfmt-debug=shallow"
  cflags_var="CFLAGS_${target//-/_}"
  export "$cflags_var=${!cflags_var:-} -fno-asynchronous-unwind-tables -fno-unwind-tables"
fi
[ -n "$target" ] && args+=(--target "$target")

cargo "${toolchain[@]}" "${args[@]}"

target_dir="${CARGO_TARGET_DIR:-target}"
if [ -n "$target" ]; then
  bin="$target_dir/$target/release-small/outpost"
else
  bin="$target_dir/release-small/outpost"
fi
[ -n "$out" ] || out="$target_dir/router/outpost"
mkdir -p "$(dirname "$out")"
strip_cmd="strip"
if [ -n "$target" ] && command -v "$target-strip" >/dev/null 2>&1; then
  strip_cmd="$target-strip"
fi
"$strip_cmd" -o "$out" "$bin"
size="$(stat -c %s "$out")"
mib="$(awk -v b="$size" 'BEGIN { printf "%.2f", b / 1048576 }')"
echo "router build: $out: $size bytes ($mib MiB)"
