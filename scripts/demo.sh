#!/usr/bin/env bash
# The demo: installs dependencies, builds, then runs a small chain on loopback in a temporary
# directory: head office (loyalty-hq) and two tills (loyaltyd) in stores S01 and S02, each till
# with its own client certificate made by `loyalty-hq till add`. A member enrols and shops at
# S01, is found at S02 and spends the points there, and S01 sees the new balance; then head
# office goes down, a new member enrols at S01 and shops at S02 at once, and S02's queued sale
# is recorded exactly once when head office is back. Last, a campaign: ten shoppers who agreed to
# personalised offers shop, head office segments the chain and launches an offer to a segment with
# a control group held out; a treated shopper uses it at the till and the report counts it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh loyaltyd loyalty loyalty-hq
root=$PWD
hq_bin=$root/build/sync/loyalty-hq
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
certs=$work/certs

# port_of LOG EVENT: the port in the first JSON log line of that event (waits up to 30 s).
port_of() {
  for _ in $(seq 300); do
    local port
    port=$(grep -o "\"event\":\"$2\".*\"port\":[0-9]*" "$1" 2>/dev/null | head -1 | grep -o '[0-9]*$' || true)
    if [ -n "$port" ]; then echo "$port"; return; fi
    sleep 0.1
  done
  echo "no \"$2\" in $1:" >&2; cat "$1" >&2; exit 1
}
# until_true COMMAND...: retries for up to 60 s.
until_true() {
  for _ in $(seq 600); do "$@" && return; sleep 0.1; done
  echo "gave up waiting for: $*" >&2; exit 1
}
health() { curl -sf "$1/v1/health"; }
synced() { health "$1" | grep -q '"connected":true.*"pending_events":0'; }
no_queue() { health "$1" | grep -q '"queued_purchases":0'; }
hq_member() { curl -sf "$hq_admin/v1/members/$1"; }
declare -A till_urls
# cli STORE ARGS...: the cashier CLI at that store's till.
cli() {
  local store=$1; shift
  echo; echo "[$store] \$ loyalty $*"
  LOYALTY_URL=${till_urls[$store]} "$root/build/pos/loyalty" "$@"
}

echo "== Head office: a CA, its server certificate, and two tills enrolled with one command each"
packaging/certs/loyalty-certs ca "$certs" >/dev/null
packaging/certs/loyalty-certs server "$certs" localhost 127.0.0.1 >/dev/null
# A fixed loopback port for sync, so that the tills find head office again after its restart.
sync_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
web_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/hq.json" <<EOF
{"database": "$work/hq.db", "durability": "normal",
 "sync_listen": "127.0.0.1:$sync_port", "admin_listen": "127.0.0.1:0",
 "web_listen": "127.0.0.1:$web_port",
 "ca_file": "$certs/hq/ca.crt", "certificate_file": "$certs/hq/server.crt",
 "private_key_file": "$certs/hq/server.key",
 "heartbeat_interval_ms": 1000, "feed_poll_interval_ms": 200}
EOF
for store in S01 S02; do
  echo "\$ loyalty-hq till add $store T1 --certs ..."
  "$hq_bin" till add "$store" T1 --certs "$certs" --config "$work/hq.json"
done

start_hq() {
  "$hq_bin" serve --config "$work/hq.json" 2>"$work/hq-$1.log" &
  hq_pid=$!
  port_of "$work/hq-$1.log" sync_listening >/dev/null
  hq_admin=http://127.0.0.1:$(port_of "$work/hq-$1.log" listening)
}
start_hq 1

start_till() {  # start_till STORE -> sets till_url
  local id=$1-T1 bundle=$certs/tills/$1-T1
  cat > "$work/$id.json" <<EOF
{"till_id": "$id", "store_id": "$1", "listen": "127.0.0.1:0", "database": "$work/$id.db",
 "durability": "normal",
 "sync": {"server": "127.0.0.1:$sync_port", "ca_file": "$bundle/ca.crt",
          "certificate_file": "$bundle/till.crt", "private_key_file": "$bundle/till.key",
          "heartbeat_seconds": 1, "min_backoff_ms": 100, "max_backoff_ms": 1000,
          "queued_retry_seconds": 1}}
EOF
  "$root/build/pos/loyaltyd" --config "$work/$id.json" 2>"$work/$id.log" &
  till_url=http://127.0.0.1:$(port_of "$work/$id.log" listening)
}
start_till S01; s01=$till_url; till_urls[S01]=$s01
start_till S02; s02=$till_url; till_urls[S02]=$s02
until_true synced "$s01"
until_true synced "$s02"
echo "Head office: sync on 127.0.0.1:$sync_port (mutual TLS), admin API on $hq_admin"
echo "Till S01-T1 on $s01, till S02-T1 on $s02 (demo rules: 1 point per 1.00, fresh food 2x,"
echo "100 points pay 1.00 for up to half a basket)."

echo; echo "== Ada enrols and shops at store S01"
cli S01 member enroll --name "Ada Lovelace" --card "4000 0012 3456 7899"
cli S01 sale --txn S01-1001 --card 4000001234567899 --line MILK-1L:fresh:2:129 --line TV-55:electronics:1:49900
until_true synced "$s01"
ada=$(curl -sf "$s01/v1/members?card=4000001234567899" | python3 -c 'import json,sys; print(json.load(sys.stdin)["member_id"])')
echo; echo "Head office's ledger for $ada: $(hq_member "$ada" | python3 -c 'import json, sys; print(json.load(sys.stdin)["balance"], "points")')"

echo; echo "== Ada shops at store S02, which has never seen her: it asks head office"
cli S02 points --card 4000001234567899
cli S02 quote --card 4000001234567899 --line BREAD:bakery:1:349 --line APPLES:fresh:3:99 --redeem 200
cli S02 sale --txn S02-2001 --card 4000001234567899 --line BREAD:bakery:1:349 --line APPLES:fresh:3:99 --redeem 200
cli S02 sale --txn S02-2001 --card 4000001234567899 --line BREAD:bakery:1:349 --line APPLES:fresh:3:99 --redeem 200
echo "(the POS retried S02-2001: the same answer, nothing counted twice)"
cli S02 return --id R-2001 --txn S02-2001 --line APPLES:1
cli S02 return --id R-2002 --txn S02-2001 --line APPLES:3 || echo "(refused: only two apples are left to return)"
until_true synced "$s02"
echo; echo "Back at S01, the points spent at S02 are gone there too (one balance everywhere):"
balance_of() { python3 -c 'import json, sys; print(json.load(sys.stdin)["balance"])'; }
same_balance_at_s01() {
  [ "$(curl -sf "$s01/v1/members?card=4000001234567899" | balance_of)" = "$(hq_member "$ada" | balance_of)" ]
}
until_true same_balance_at_s01
cli S01 points --card 4000001234567899

echo; echo "== Head office goes down. Grace enrols at S01 and shops at S02 straight away"
kill "$hq_pid"; wait "$hq_pid" 2>/dev/null || true
cli S01 member enroll --name "Grace Hopper" --card "4000 0098 7654 3219"
cli S02 sale --txn S02-2002 --card 4000009876543219 --line COFFEE:grocery:2:799
echo "(S02 does not know the card and cannot ask: the sale waits in its queue, with its points)"

echo; echo "== Head office is back: S01 sends the enrolment, S02 learns Grace and records the sale once"
start_hq 2
until_true no_queue "$s02"
until_true synced "$s01"
until_true synced "$s02"
cli S02 sale --txn S02-2002 --card 4000009876543219 --line COFFEE:grocery:2:799
echo "(the POS retried S02-2002: the same recorded sale, nothing counted twice)"
cli S02 points --card 4000009876543219
echo; echo "Tills as head office sees them:"
"$hq_bin" till list --config "$work/hq.json"

echo; echo "== A campaign: head office segments its members and gives an offer to all but a control group"
# card_for N: a Luhn-valid card number for demo shopper N.
card_for() {
  python3 -c 'import sys
p = "400001000000%03d" % int(sys.argv[1])
digits = [int(c) for c in reversed(p)]
s = sum((2 * d - 9 if 2 * d > 9 else 2 * d) if i % 2 == 0 else d for i, d in enumerate(digits))
print(p + str((10 - s % 10) % 10))' "$1"
}
post() { curl -sf -X POST "$1" -H 'Content-Type: application/json' -d "$2"; }
member_id_of() { python3 -c 'import json, sys; print(json.load(sys.stdin)["member_id"])'; }
shoppers=()
for n in $(seq 1 10); do
  shopper=$(post "$s01/v1/members" "{\"card\": \"$(card_for "$n")\", \"name\": \"Shopper $n\",
                                     \"consent\": {\"personalised_offers\": true}}" | member_id_of)
  post "$s01/v1/purchases" "{\"txn_id\": \"S01-30$n\", \"member_id\": \"$shopper\", \"lines\": [{\"sku\": \"BREAD\",
        \"category\": \"bakery\", \"quantity\": $n, \"unit_price_cents\": 349}]}" >/dev/null
  shoppers+=("$shopper")
done
echo "Ten shoppers (${shoppers[0]} ... ${shoppers[9]}) agreed to personalised offers and bought bread at S01."
until_true synced "$s01"
hq() { "$hq_bin" "$@" --config "$work/hq.json"; }
hq_cmd() { echo; echo "\$ loyalty-hq $*"; hq "$@"; }
echo; echo "\$ loyalty-hq segment --as-of $(date -u +%F)"
hq segment --as-of "$(date -u +%F)" >"$work/segment.txt"
head -n 3 "$work/segment.txt"
sleep 1  # the offer's window starts after the purchases above, so the report sees only its own
cat > "$work/campaign.json" <<EOF
{"name": "Bread lovers", "control_percent": 30, "target": {"tags": ["category:bakery"]},
 "offer": {"kind": "bonus_points", "title": "150 bonus points this week", "bonus_points": 150,
           "valid_from": "$(date -u +%FT%TZ)", "valid_until": "$(date -u -d '+7 days' +%FT%TZ)",
           "budget_points": 100000}}
EOF
echo; echo "\$ cat campaign.json"; cat "$work/campaign.json"
campaign_summary() {
  python3 -c 'import json, sys; c = json.load(sys.stdin); print(c["campaign_id"], c["status"], "offer", c["offer"]["offer_id"])'
}
echo; echo "\$ loyalty-hq campaign create campaign.json"
hq campaign create "$work/campaign.json" | campaign_summary
hq_cmd campaign preview C1
echo; echo "\$ loyalty-hq campaign launch C1"
hq campaign launch C1 | campaign_summary
# The treated shoppers have the offer at head office (and soon at the till); the control group never.
has_offer_at() { [[ "$(curl -sf "$1/v1/members/$2")" == *'"C1-O1"'* ]]; }
treated='' control=''
for shopper in "${shoppers[@]}"; do
  if has_offer_at "$hq_admin" "$shopper"; then treated=${treated:-$shopper}; else control=${control:-$shopper}; fi
done
echo; echo "Treated: $treated has the offer; control: $control does not (and never will)."
until_true has_offer_at "$s01" "$treated"
cli S01 points --member "$treated"
cli S01 sale --txn S01-4001 --member "$treated" --line BREAD:bakery:2:349
cli S01 sale --txn S01-4002 --member "$control" --line BREAD:bakery:2:349
until_true synced "$s01"
report_counts_use() { [[ "$(hq campaign report C1)" == *'"uses": 1,'* ]]; }
until_true report_counts_use
hq_cmd campaign report C1

echo; echo "== Web pages (docs/WEB.md): staff 'demo', password 'demo-password'; Ada's card 4000001234567899"
echo demo-password | hq staff add demo >/dev/null
echo "Member page http://127.0.0.1:$web_port/ (code: $(hq member sign-in-code "$ada" | python3 -c 'import json, sys; print(json.load(sys.stdin)["code"])')), dashboard http://127.0.0.1:$web_port/dashboard"
if [ -t 0 ]; then read -r -p "Press Enter to stop the chain. "; fi
