#!/usr/bin/env bash
# Configures and builds lamina into BUILD_DIR (default: build).
#   scripts/build.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLAMINA_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
