#!/usr/bin/env bash
# Installs every build and test dependency of logferry from Debian 12 packages.
# Idempotent and quiet when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  lld                                  # links the lean logferry binary (CMakeLists.txt)
  libuv1-dev libre2-dev libzstd-dev nlohmann-json3-dev doctest-dev
  libbenchmark-dev clang-14 libclang-rt-14-dev llvm-14
  python3 util-linux bsdextrautils
  syslog-ng-core
  libestr0 libfastjson4 liblognorm5   # rsyslog (a test peer) runs from its unpacked package
  librelp0                             # and its RELP modules (rsyslog-relp, unpacked too; bench/relay_compare.sh)
  libsqlite3-dev sqlite3 libpq-dev     # sql() destination
  postgresql                           # sql(type(pgsql)) tests run a throwaway cluster of their own
  libcurl4-openssl-dev                 # clickhouse() destination (HTTP through libcurl's multi interface)
  clickhouse-server                    # clickhouse() tests run a throwaway server of their own
  librdkafka-dev                       # kafka-c() destination; its tests use librdkafka's mock cluster
  zlib1g-dev                           # crc32 of the disk buffers' records
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
# Package scripts must not start daemons (syslog-ng-core is only a test peer).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  created_policy=1
fi
# PostgreSQL: no "main" cluster is created (the tests make their own), and
# policy-rc.d above keeps any cluster from being started.
pgconf=/etc/postgresql-common/createcluster.conf
if [ ! -e "$pgconf" ]; then
  $sudo mkdir -p "$(dirname "$pgconf")"
  echo "create_main_cluster = false" | $sudo tee "$pgconf" >/dev/null
fi
$sudo apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ "$created_policy" -eq 1 ] && $sudo rm -f "$policy"
exit 0
