#!/usr/bin/env bash
# Footprint of a release build: binary size, `rampart --version` wall time, and the resident
# memory of an idle, started gateway. Prints one line per figure.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p rampart >&2
bin=target/release/rampart
echo "binary_bytes $(stat -c %s "$bin")"

# --version: best of 20 runs, in milliseconds.
best=""
for _ in $(seq 20); do
  t0=$(date +%s%N); "$bin" --version >/dev/null; t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000 ))
  if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
done
echo "version_wall_us $best"

# Idle RSS of a started gateway on a throwaway home made by `rampart init` (scripted provider,
# vault unlocked from the environment, audit trail on).
home=$(mktemp -d)
trap 'rm -rf "$home"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
export RAMPART_VAULT_PASSPHRASE="footprint passphrase"
"$bin" --home "$home" init --non-interactive >/dev/null
sed -i 's/^api_listen = .*/api_listen = "127.0.0.1:0"/' "$home/config.toml"
"$bin" --home "$home" start 2>"$home/stderr" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$home/stderr" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on" "$home/stderr" || { cat "$home/stderr" >&2; exit 1; }
sleep 1
echo "idle_rss_kib $(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
