#!/usr/bin/env bash
# Installs the Debian packages the project builds and tests with (as root, or via sudo).
# --list prints them instead.
set -euo pipefail
packages=(g++ cmake ninja-build pkg-config git openssl libboost1.81-dev libsqlite3-dev
          libssl-dev nlohmann-json3-dev catch2 sqlite3 python3 curl
          clang-16 libclang-rt-16-dev   # clang for the libFuzzer targets (scripts/fuzz.sh)
          chromium chromium-driver)     # headless browser tests of the web pages (docs/WEB.md)
if [ "${1:-}" = "--list" ]; then echo "${packages[@]}"; exit 0; fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
