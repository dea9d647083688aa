#!/usr/bin/env bash
# Issue 2 benchmarks: dispatcher throughput, API throughput, start-up and idle cost.
# Usage: bench/foundation.sh   (from the repository root; writes bench/out/foundation.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# Separately: together, shared dependencies' features differ from `cargo run --release`'s,
# and the binary's start-up code layout (link/startup.order) no longer matches.
cargo build --release -q -p outpost && cargo build --release -q -p outpost-bench
mkdir -p bench/out
out=bench/out/foundation.txt
: > "$out"
echo "== dispatcher alone: 100000 echo jobs, 512 in flight, 5 runs" | tee -a "$out"
./target/release/dispatch 100000 512 5 | tee -a "$out"

echo "== API: wrk, 2 threads, 64 connections, 20 s, POST /v1/jobs?wait=5 (echo, persisted)" | tee -a "$out"
dir=$(mktemp -d)
export OUTPOST_TOKEN=bench-token
./target/release/outpost run --data-dir "$dir" --listen 127.0.0.1:17070 2>"$dir/log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:17070/healthz >/dev/null && break; sleep 0.05; done
wrk -t2 -c64 -d20s -s bench/api_echo.lua "http://127.0.0.1:17070/v1/jobs?wait=5" | tee -a "$out"
kill $pid; wait $pid || true

echo "== start-up to /healthz, idle RSS and CPU" | tee -a "$out"
./target/release/startup ./target/release/outpost 20 30 | tee -a "$out"
