#!/usr/bin/env bash
# test-packages.sh: builds the Debian packages and walks them through a till's and head office's
# life with dpkg: lintian, install, start the daemons from the installed files as the loyalty
# user (without systemd), health checks, a live backup, an upgrade over an older package with
# data and local config kept, remove (data kept) and purge (data gone).
#
#   sudo packaging/test-packages.sh [--till-only] [BUILD_DIR]     (default BUILD_DIR: build-packages)
#
# It changes the machine it runs on: installs build tools, dpkg-dev, lintian and curl with
# apt-get, installs and purges loyalty-till and loyalty-hq, leaves the loyalty system user.
# Run it on a throw-away machine or container, as root. Not part of CTest.
# --till-only skips loyalty-hq (e.g. while it does not build). The "older" package is the same
# build stamped with a lower version (VERSION~old), so the upgrade exercises dpkg, the
# maintainer scripts, conffiles and the data directory, not a schema change between releases.
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=$PWD

till_only=false
if [ "${1:-}" = --till-only ]; then till_only=true; shift; fi
build=$(realpath -m "${1:-build-packages}")
[ "$(id -u)" -eq 0 ] || { echo "test-packages: run me as root (I install packages)" >&2; exit 2; }

passed=0
failed=0
check() {  # check DESCRIPTION COMMAND...: runs COMMAND, counts and prints the outcome
    local description=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "  ok   $description"
    else
        failed=$((failed + 1))
        echo "  FAIL $description"
    fi
}
step() { echo; echo "== $*"; }

work=$(mktemp -d)
daemons=()
cleanup() {
    for pid in "${daemons[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

step "tools"
scripts/install-deps.sh
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq dpkg-dev lintian curl adduser openssl >/dev/null

step "build ($build)"
cmake -S "$source_dir" -B "$build" -G Ninja -DLOYALTY_BUILD_TESTS=OFF \
    -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=(loyaltyd loyalty)
components=till
if ! $till_only && cmake --build "$build" --target help | grep -q '^loyalty-hq:'; then
    targets+=(loyalty-hq)
    components="till;hq"
fi
packages=(loyalty-till)
[[ $components == *hq ]] && packages+=(loyalty-hq)
cmake --build "$build" --target "${targets[@]}"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")

# Packages of VERSION~old first (dpkg orders it before VERSION), then of VERSION.
make_packages() {  # make_packages VERSION OUTPUT_DIR
    cmake -S "$source_dir" -B "$build" -DLOYALTY_PACKAGE_VERSION="$1" >/dev/null
    (cd "$build" && cpack -G DEB -D CPACK_COMPONENTS_ALL="$components" -B "$2" >/dev/null)
    rm -rf "$2/_CPack_Packages"
}
make_packages "$version~old" "$work/old"
make_packages "$version" "$work/new"
ls -l "$work/old" "$work/new"

step "lintian (reported, not failing)"
lintian "$work"/new/*.deb | tee "$work/lintian.txt" || true
echo "lintian: $(grep -c '^E:' "$work/lintian.txt" || true) errors, $(grep -c '^W:' "$work/lintian.txt" || true) warnings"

step "package contents"
for deb in "$work"/new/*.deb; do
    echo "-- $(basename "$deb")"
    dpkg-deb --field "$deb" Package Version Depends
    dpkg-deb --contents "$deb" | awk '{print "   ", $1, $2, $6, $7, $8}'
done
check "loyalty-till depends on the libraries it links (libsqlite3, libssl)" \
    bash -c "dpkg-deb --field '$work'/new/loyalty-till_*.deb Depends | grep -q libsqlite3 &&
             dpkg-deb --field '$work'/new/loyalty-till_*.deb Depends | grep -q libssl"

step "clean slate"
dpkg --purge "${packages[@]}" >/dev/null 2>&1 || true
rm -rf /var/lib/loyalty /etc/loyalty

step "install $version~old"
dpkg -i "$work"/old/*.deb
check "loyalty user exists" getent passwd loyalty
check "/var/lib/loyalty is loyalty's, mode 750" \
    test "$(stat -c '%U:%G %a' /var/lib/loyalty)" = "loyalty:loyalty 750"
check "loyaltyd.json is a conffile" \
    bash -c "dpkg-query -W -f='\${Conffiles}' loyalty-till | grep -q /etc/loyalty/loyaltyd.json"
check "loyaltyd.json is root:loyalty 640" \
    test "$(stat -c '%U:%G %a' /etc/loyalty/loyaltyd.json)" = "root:loyalty 640"
check "systemd unit installed" test -f /lib/systemd/system/loyaltyd.service
if command -v systemd-analyze >/dev/null; then
    for unit in "${packages[@]}"; do
        service=${unit/loyalty-till/loyaltyd}.service
        check "$service passes systemd-analyze verify" \
            systemd-analyze verify "/lib/systemd/system/$service"
    done
fi
check "loyaltyd --version" /usr/sbin/loyaltyd --version

# A local change to the conffile must survive the upgrade.
sed -i 's/"till_id": "S01-T1"/"till_id": "S07-T3"/; s/"store_id": "S01"/"store_id": "S07"/' \
    /etc/loyalty/loyaltyd.json

# start NAME LOG COMMAND...: runs COMMAND as the loyalty user in the background and sets $port
# to the port of its first HTTP "listening" line.
start() {
    local name=$1 log=$2
    shift 2
    runuser -u loyalty -- "$@" 2>"$log" &
    daemons+=($!)
    port=""
    for _ in $(seq 100); do
        port=$(grep -o '"event":"listening".*"port":[0-9]*' "$log" | head -1 | grep -o '[0-9]*$' || true)
        [ -n "$port" ] && return 0
        sleep 0.1
    done
    echo "$name did not start:"
    cat "$log"
    return 1
}
stop_last() {
    local pid=${daemons[-1]}
    kill -TERM "$pid"
    wait "$pid" || true
    unset 'daemons[-1]'
}

step "till: start, write, live backup"
start loyaltyd "$work/till1.log" /usr/sbin/loyaltyd --config /etc/loyalty/loyaltyd.json --listen 127.0.0.1:0
till="http://127.0.0.1:$port"
check "GET /v1/health" curl -fsS -o /dev/null "$till/v1/health"
loyalty --url "$till" member enroll --name "Test Member" --card 4000001234567899
loyalty --url "$till" sale --txn PKG-1 --card 4000001234567899 --line MILK:fresh:2:129 --line TV:electronics:1:49900
points_before=$(loyalty --json --url "$till" points --card 4000001234567899)
echo "points: $points_before"
check "the till id comes from the edited config" grep -q '"till_id":"S07-T3"' "$work/till1.log"
check "loyaltyd backup while running" \
    runuser -u loyalty -- /usr/sbin/loyaltyd backup --db /var/lib/loyalty/till.db --to /var/lib/loyalty/backup.db
check "the backup holds the member" \
    test "$(sqlite3 /var/lib/loyalty/backup.db 'SELECT count(*) FROM members')" = 1
check "the backup is loyalty's, mode 600" \
    test "$(stat -c '%U %a' /var/lib/loyalty/backup.db)" = "loyalty 600"
stop_last

if [[ $components == *hq ]]; then
    step "head office: certificates, start, health"
    check "loyalty-certs on PATH" command -v loyalty-certs
    loyalty-certs ca "$work/ca" >/dev/null
    loyalty-certs server "$work/ca" localhost 127.0.0.1 >/dev/null
    install -d -m 0750 -g loyalty /etc/loyalty/certs
    install -m 0644 "$work/ca/hq/ca.crt" "$work/ca/hq/server.crt" /etc/loyalty/certs/
    install -m 0640 -g loyalty "$work/ca/hq/server.key" /etc/loyalty/certs/
    sed -i 's/"sync_listen": "[^"]*"/"sync_listen": "127.0.0.1:0"/; s/"admin_listen": "[^"]*"/"admin_listen": "127.0.0.1:0"/' \
        /etc/loyalty/loyalty-hq.json
    start loyalty-hq "$work/hq1.log" /usr/sbin/loyalty-hq serve --config /etc/loyalty/loyalty-hq.json
    check "head office GET /v1/health" curl -fsS -o /dev/null "http://127.0.0.1:$port/v1/health"
    check "head office database created" test -f /var/lib/loyalty/hq.db
    stop_last
fi

step "upgrade to $version"
dpkg -i "$work"/new/*.deb
check "loyalty-till is now $version-1" \
    test "$(dpkg-query -W -f='${Version}' loyalty-till)" = "$version-1"
check "the edited loyaltyd.json was kept" grep -q '"till_id": "S07-T3"' /etc/loyalty/loyaltyd.json
start loyaltyd "$work/till2.log" /usr/sbin/loyaltyd --config /etc/loyalty/loyaltyd.json --listen 127.0.0.1:0
till="http://127.0.0.1:$port"
check "GET /v1/health after the upgrade" curl -fsS -o /dev/null "$till/v1/health"
check "the member's points survived the upgrade" \
    test "$(loyalty --json --url "$till" points --card 4000001234567899)" = "$points_before"
stop_last
if [[ $components == *hq ]]; then
    start loyalty-hq "$work/hq2.log" /usr/sbin/loyalty-hq serve --config /etc/loyalty/loyalty-hq.json
    check "head office health after the upgrade" curl -fsS -o /dev/null "http://127.0.0.1:$port/v1/health"
    stop_last
fi

step "remove (data and config kept)"
dpkg --remove "${packages[@]}"
check "loyaltyd is gone" test ! -e /usr/sbin/loyaltyd
check "the till database is kept" test -f /var/lib/loyalty/till.db
if [[ $components == *hq ]]; then
    check "head office's database is kept" test -f /var/lib/loyalty/hq.db
fi
check "the config is kept" test -f /etc/loyalty/loyaltyd.json

step "purge (data and config gone)"
dpkg --purge "${packages[@]}"
check "/var/lib/loyalty is gone" test ! -e /var/lib/loyalty
check "loyaltyd.json is gone" test ! -e /etc/loyalty/loyaltyd.json
rm -rf /etc/loyalty/certs
rmdir /etc/loyalty 2>/dev/null || true

echo
echo "test-packages: $passed checks passed, $failed failed"
[ "$failed" -eq 0 ]
