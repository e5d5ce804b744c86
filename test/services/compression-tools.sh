#!/usr/bin/env bash
# Installs Debian's zstd, lz4 and lzop when a command is missing: the agent
# runs them for the zstd and lz4 compressions and to read lzop archives, and
# the tests make and check archives with them. Idempotent; needs root for apt-get.
set -euo pipefail
missing=()
for tool in zstd lz4 lzop; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
((${#missing[@]} == 0)) && exit 0
[[ $(id -u) == 0 ]] || { echo "compression-tools: ${missing[*]} missing and not root" >&2; exit 1; }
echo "compression-tools: installing ${missing[*]} (Debian) ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for tool in "${missing[@]}"; do command -v "$tool" >/dev/null; done
