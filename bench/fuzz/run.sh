#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60), seeded from its committed seeds with a
# fresh temporary corpus, and prints per target: execs, exec/s, final cov and ft, crashes,
# and which stages of the code it names were reached (issue 10).
#
#   bench/fuzz/run.sh [SECONDS] [TARGET...]
#
# Environment: JOBS (targets run at once, default 2), OUT (where logs, corpora and
# artifacts go; default bench/out/fuzz-DATE), NICE (default 19), SEEDED (default 1; 0 starts
# from an empty corpus, as the runs issue 10 measured, for comparison).
#
# Build: `cargo fuzz build -O -a` (release, debug assertions and overflow checks, address
# sanitizer: cargo fuzz's default, and the sanitizer runtime is also what symbolizes
# -print_coverage's output) with RUSTFLAGS=-Coverflow-checks=on, one shared target dir
# (target/fuzz). cargo-fuzz needs RUSTC_BOOTSTRAP=1 on stable.
#
# Stages: after the run, the binary replays its final corpus (seeds + what it found) with
# -runs=0 -print_coverage=1, and libFuzzer's COVERED_FUNC lines are searched for the
# functions that mark each stage (library functions, and the targets' `stage_*` markers for
# outcomes a function's coverage cannot show, e.g. "prepare accepted the params").
# Symbolizing needs llvm-symbolizer on PATH (Debian package llvm).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SECS="${1:-60}"
shift || true
JOBS="${JOBS:-2}"
NICE="${NICE:-19}"
SEEDED="${SEEDED:-1}"
OUT="${OUT:-$ROOT/bench/out/fuzz-$(date -u +%Y%m%dT%H%M%S)}"
TD="$ROOT/target/fuzz"
BIN="$TD/x86_64-unknown-linux-gnu/release"
export RUSTC_BOOTSTRAP=1 RUSTFLAGS="-C overflow-checks=on"
# sqlite's amalgamation (rusqlite, bundled) has two function-local statics named `aiOff`,
# which ASan's by-name ODR check reports at start-up: a known false positive.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: bench/fuzz/deps.sh" >&2; exit 1; }
command -v llvm-symbolizer >/dev/null || { echo "llvm-symbolizer missing: bench/fuzz/deps.sh" >&2; exit 1; }

# crate dir : target
ALL=(
  crates/outpost-snmp/fuzz:decode_message
  crates/outpost-snmp/fuzz:open_v3
  crates/outpost-snmp/fuzz:render_values
  crates/outpost/fuzz:job_decoder
  crates/outpost/fuzz:trap_filter
  crates/outpost-proto/fuzz:envelope
  crates/outpost-host/fuzz:socktop_request
  crates/outpost-host/fuzz:proc_parsers
  crates/outpost-icmp/fuzz:decode_icmp
  crates/outpost/fuzz:rusty_decoder
  crates/outpost/fuzz:schedule_spec
  crates/outpost-checks/fuzz:plugin_output
  crates/outpost-containers/fuzz:compose_parse
  crates/outpost-containers/fuzz:container_listing
  crates/outpost-proto/fuzz:towerops_frame
  crates/outpost-proto/fuzz:wamp_message
  crates/outpost-proto/fuzz:routeros_decode
  crates/outpost-host/fuzz:netlink_addresses
  crates/outpost-update/fuzz:update_manifest
  crates/outpost/fuzz:socketman_job
  crates/outpost/fuzz:socketman_genl
  crates/outpost/fuzz:socketman_nl80211
  crates/outpost/fuzz:towerops_backup_text
  crates/outpost/fuzz:reagent_app_request
)

# Stages per target: "label=regex over COVERED_FUNC lines", in the order the code reaches them.
stages() {
  case "$1" in
    decode_message) printf '%s\n' \
      'decode=outpost_snmp::message::decode_located' \
      'pdu=outpost_snmp::pdu::AnyPdu>::decode' \
      'scoped_pdu=outpost_snmp::message::ScopedPdu>::decode' \
      're-encode=outpost_snmp::message::Message>::encode' \
      'v3_encode=outpost_snmp::message::encode_v3_located' \
      'decoded_v1=stage_decoded_v1' 'decoded_v2c=stage_decoded_v2c' 'decoded_v3=stage_decoded_v3' ;;
    open_v3) printf '%s\n' \
      'decode=outpost_snmp::message::decode_located' \
      'verify=outpost_snmp::usm::verify' \
      'decrypt=outpost_snmp::usm::decrypt' \
      'des=Decryptor<des::des::Des>' \
      'aes=outpost_snmp::usm::aes_cfb' \
      'opened_plain=stage_opened_plain' \
      'opened_auth=stage_opened_authenticated' \
      'opened_priv=stage_opened_decrypted' \
      'reseal=outpost_snmp::security::seal' ;;
    render_values) printf '%s\n' \
      'decode=outpost_snmp::message::decode_located' \
      'text=outpost_snmp::value::VarBind as core::fmt::Display' \
      'json=serialize_entry::<str, outpost_snmp::oid::Oid>' \
      'v1_as_v2=TrapV1Pdu>::to_v2_varbinds' \
      'mib_name=outpost_snmp::mib::Mib>::name_of' ;;
    rusty_decoder) printf '%s\n' \
      'script=ScriptRequest' \
      'cron=outpost::adapters::rusty::cron::from_rusty' \
      'words=outpost::adapters::rusty::words' \
      'bulk=outpost::sinks::opensearch::doc' ;;
    schedule_spec) printf '%s\n' \
      'decode=outpost_schedule::spec::ScheduleSpec>::from_json' \
      'cron=outpost_schedule::when' ;;
    plugin_output) printf '%s\n' \
      'parse=outpost_checks::plugin::parse_output' \
      'perfdata=outpost_checks::perfdata::parse_item' \
      'format=outpost_checks::perfdata::Perfdata as core::fmt::Display' ;;
    container_listing) printf '%s\n' \
      'parse=outpost_containers::listing::parse' \
      'row=outpost_containers::listing::Summary::name' ;;
    compose_parse) printf '%s\n' \
      'yaml=outpost_containers::apps::yaml::parse' \
      'service=outpost_containers::apps::compose::service' \
      'validate=outpost_containers::apps::validate::check' \
      'accepted=stage_accepted' \
      'round_trip=stage_round_trip' \
      'plan=stage_planned' ;;
    decode_icmp) printf '%s\n' \
      'decode=outpost_icmp::codec::view' \
      'quoted=outpost_icmp::codec::decode_quoted' \
      're-encode=outpost_icmp::codec::encode' ;;
    job_decoder) printf '%s\n' \
      'api_body=outpost::api::body::decode' \
      'api_accepted=stage_api_accepted' \
      'uplink=outpost::uplink::inbound::handle' \
      'uplink_prepared=stage_uplink_prepared' \
      'echo=stage_echo_accepted' 'sleep=stage_sleep_accepted' \
      'agent.info=stage_agent_info_accepted' 'metrics=stage_metrics_accepted' \
      'snmp.get=stage_snmp_get_accepted' 'snmp.walk=stage_snmp_walk_accepted' \
      'snmp.set=stage_snmp_set_accepted' ;;
    trap_filter) printf '%s\n' \
      'filter=outpost::trap::filter::Filter>::check' \
      'v3_users=outpost::trap::usm::V3Users>::check' \
      'verify=outpost_snmp::usm::verify' \
      'decrypt=outpost_snmp::usm::decrypt' \
      'normalize=outpost::trap::normalize::Notification>::from_v' \
      'accept_v1=stage_accept_v1' 'accept_v2c=stage_accept_v2c' 'accept_v3=stage_accept_v3' \
      'inform_ack=stage_inform_acknowledged' \
      'payload=Notification>::payload_named' 'log_line=outpost::trap::log::line' ;;
    envelope) printf '%s\n' \
      'hello=stage_hello' 'welcome=stage_welcome' 'job=stage_job' 'result=stage_result' \
      'event=stage_event' 'ack=stage_ack' 'heartbeat=stage_heartbeat' 'cancel=stage_cancel' \
      'error=stage_error' 'frame=stage_frame_decoded' 'phx_reply=stage_frame_reply' ;;
    socktop_request) printf '%s\n' \
      'parsed=stage_request_parsed' \
      'answer=outpost_host::socktop::answer' \
      'data_reply=stage_data_reply' \
      'processes=outpost_host::socktop::processes_reply' ;;
    proc_parsers) printf '%s\n' \
      'stat=stage_stat' 'meminfo=stage_meminfo' 'net_dev=stage_net_dev' \
      'mounts=stage_mounts' 'pid_stat=stage_pid_stat' ;;
  esac
}

want=("$@")
selected=()
for e in "${ALL[@]}"; do
  t="${e#*:}"
  if [ ${#want[@]} -eq 0 ] || printf '%s\n' "${want[@]}" | grep -qx "$t"; then selected+=("$e"); fi
done
[ ${#selected[@]} -gt 0 ] || { echo "no such target: ${want[*]}" >&2; exit 2; }

mkdir -p "$OUT"
echo "fuzz: building (log $OUT/build.log)" >&2
for dir in $(printf '%s\n' "${selected[@]}" | cut -d: -f1 | sort -u); do
  (cd "$ROOT/$dir" && cargo fuzz build -O -a --target-dir "$TD") \
    >>"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log" >&2; exit 1; }
done

run_one() {
  local dir="$1" t="$2" o="$OUT/$2"
  mkdir -p "$o/corpus" "$o/artifacts" "$o/empty"
  local seeds="$ROOT/$dir/seeds/$t"
  [ "$SEEDED" = 1 ] || seeds="$o/empty"
  [ -d "$seeds" ] || seeds="$o/empty"  # a target without committed seeds starts empty
  # The first corpus dir receives what the run finds; the seeds are only read.
  nice -n "$NICE" "$BIN/$t" "$o/corpus" "$seeds" \
    -max_total_time="$SECS" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$o/artifacts/" >"$o/fuzz.log" 2>&1 || true
  # Replay the final corpus for libFuzzer's own per-function coverage.
  # (A crashing input in the corpus is written beside the run's artifacts, not the cwd.)
  nice -n "$NICE" "$BIN/$t" "$o/corpus" "$seeds" -runs=0 -print_coverage=1 \
    -artifact_prefix="$o/artifacts/replay-" >"$o/coverage.log" 2>&1 || true
}

pids=()
for e in "${selected[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  echo "fuzz: $(date -u +%H:%M:%S) ${e#*:} for ${SECS}s" >&2
  run_one "${e%%:*}" "${e#*:}" &
  pids+=($!)
done
wait

set +e +o pipefail  # the summary reads what each run left, complete or not
stat() { grep -m1 "^stat::$1:" "$2" 2>/dev/null | awk '{print $2}'; }
{
  echo "# fuzz run: ${SECS}s per target, seeded=$SEEDED, $JOBS at a time, $(nproc) cores; $(date -u +%FT%TZ)"
  printf '%-16s %12s %8s %7s %7s %6s %7s  %s\n' target execs exec/s cov ft seeds crashes stages
  for e in "${selected[@]}"; do
    dir="${e%%:*}" t="${e#*:}" o="$OUT/${e#*:}"
    execs=$(stat number_of_executed_units "$o/fuzz.log")
    eps=$(stat average_exec_per_sec "$o/fuzz.log")
    last=$(grep -E '^#[0-9]+\s+(DONE|NEW|REDUCE|pulse|INITED)' "$o/fuzz.log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    seeds=$(find "$ROOT/$dir/seeds/$t" -type f 2>/dev/null | wc -l)
    crashes=$(find "$o/artifacts" -type f | wc -l)
    if grep -qE '^==[0-9]+==|panicked at|deadly signal' "$o/fuzz.log" && [ "$crashes" = 0 ]; then
      crashes="log"
    fi
    reached="" missed=""
    while IFS='=' read -r label re; do
      if grep -qE "^COVERED_FUNC: .*($re)" "$o/coverage.log"; then
        reached+="$label "
      else
        missed+="$label "
      fi
    done < <(stages "$t")
    line="${reached% }"
    [ -n "$missed" ] && line+=" | NOT REACHED: ${missed% }"
    printf '%-16s %12s %8s %7s %7s %6s %7s  %s\n' "$t" "${execs:-?}" "${eps:-?}" "${cov:-?}" \
      "${ft:-?}" "$seeds" "$crashes" "$line"
  done
} | tee "$OUT/summary.txt"
echo "fuzz: logs, corpora and artifacts in $OUT" >&2
