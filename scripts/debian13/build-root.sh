#!/usr/bin/env bash
# Make (or reuse) a Debian 13 root for running dockovn's suite on Docker 26 / OVN 25.03.
# Cached outside the checkout, rebuilt only when scripts/debian13/packages or packages-apt
# changes: debootstrap installs the first list, then apt in the new root the second.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${DEBIAN13_ROOT:-/var/cache/dockovn/debian13}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
lists() { grep -hv '^#' "$HERE/$1"; }
want=$({ lists packages | sort; echo --; lists packages-apt | sort; } | sha256sum | cut -c1-16)
if [ -f "$ROOT/.dockovn-packages" ] && [ "$(cat "$ROOT/.dockovn-packages")" = "$want" ]; then
  echo "Debian 13 root $ROOT is up to date"
  exit 0
fi
command -v debootstrap >/dev/null || {
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap; }
echo "building the Debian 13 root in $ROOT (about 8 minutes)"
rm -rf "$ROOT.new"
mkdir -p "$(dirname "$ROOT")"
debootstrap --variant=minbase --include="$(lists packages | paste -sd,)" \
  trixie "$ROOT.new" "$MIRROR"
# apt runs in the new root as the tests will (run.sh), writing to the root itself.
echo "dockovn-build" > "$ROOT.new/.dockovn-packages"
DEBIAN13_ROOT="$ROOT.new" DEBIAN13_WRITE_ROOT=1 bash "$HERE/run.sh" --host-net \
  "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(lists packages-apt | paste -sd' ') \
   && apt-get clean"
echo "$want" > "$ROOT.new/.dockovn-packages"
rm -rf "$ROOT"
mv "$ROOT.new" "$ROOT"
echo "Debian 13 root ready: $ROOT"
