#!/usr/bin/env bash
# The demo: installs dependencies, builds, then starts a till (loyaltyd) on loopback with the
# built-in demo rules and walks through what a cashier sees: enrolment, a sale, a redemption,
# a return and a void, using the loyalty CLI. Everything lives in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh loyaltyd loyalty
bin=build/pos
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

"$bin/loyaltyd" --listen 127.0.0.1:0 --db "$work/till.db" 2>"$work/loyaltyd.log" &
for _ in $(seq 100); do
  port=$(grep -o '"event":"listening".*"port":[0-9]*' "$work/loyaltyd.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "loyaltyd did not start:"; cat "$work/loyaltyd.log"; exit 1; }
export LOYALTY_URL="http://127.0.0.1:$port"
cli() { echo; echo "\$ loyalty $*"; "$bin/loyalty" "$@"; }

echo "A till is running on $LOYALTY_URL (demo rules: 1 point per 1.00, fresh food 2x,"
echo "tobacco and gift cards earn nothing, 100 points pay 1.00 for up to half a basket)."
cli member enroll --name "Ada Lovelace" --card "4000 0012 3456 7899" --phone "+44 20 7946 0018"
cli sale --txn T1001 --card 4000001234567899 \
  --line MILK-1L:fresh:2:129 --line TV-55:electronics:1:49900 --line CIGS:tobacco:1:950
cli sale --txn T1001 --card 4000001234567899 \
  --line MILK-1L:fresh:2:129 --line TV-55:electronics:1:49900 --line CIGS:tobacco:1:950
echo "(the POS retried T1001: the same answer, nothing counted twice)"
cli quote --card 4000001234567899 --line BREAD:bakery:1:349 --line APPLES:fresh:3:99 --redeem 200
cli sale --txn T1002 --card 4000001234567899 --line BREAD:bakery:1:349 --line APPLES:fresh:3:99 --redeem 200
cli return --id R5001 --txn T1001 --line TV-55:1
cli return --id R5002 --txn T1001 --line TV-55:1 || echo "(refused: the TV was already returned)"
cli sale --txn T1003 --card 4000001234567899 --line COFFEE:grocery:1:799
cli void --txn T1003
cli points --card 4000001234567899
