#!/usr/bin/env bash
# Installs the Debian 12 packages lamina needs to build, test and demo.
# Installs only what is missing; needs root (or sudo) when something is.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libfuse3-dev fuse3 libsodium-dev libssl-dev liblz4-dev liburing-dev libarchive-dev
  busybox-static attr python3 util-linux kmod zstd
  podman   # the end-to-end test runs containers on laminafs
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "lamina: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
