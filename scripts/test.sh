#!/usr/bin/env bash
# The test command from the README: format check, clippy with warnings denied, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# The web chat's browser test drives Debian's headless Chromium through chromedriver. Install
# them when missing (CI runs as root with apt reachable); the test fails under CI=true without them.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium chromium-driver
  else
    echo "scripts/test.sh: chromium/chromedriver missing and cannot apt-get install them (not root);" \
      "the web chat browser test will be skipped (or fail under CI=true)" >&2
  fi
fi
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
