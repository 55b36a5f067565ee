#!/usr/bin/env bash
# Builds Rampart and runs the offline demo: a real gateway on a free loopback port, a scripted
# model, a short conversation over HTTP with the API key, and the attacks it refuses.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked -p rampart
exec ./target/debug/rampart demo "$@"
