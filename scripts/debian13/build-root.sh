#!/usr/bin/env bash
# Make (or reuse) a Debian 13 root for running dockovn's suite on Docker 26 / OVN 25.03.
# Cached outside the checkout, rebuilt only when scripts/debian13/packages changes.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${DEBIAN13_ROOT:-/var/cache/dockovn/debian13}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
want=$(grep -v '^#' "$HERE/packages" | sort | sha256sum | cut -c1-16)
if [ -f "$ROOT/.dockovn-packages" ] && [ "$(cat "$ROOT/.dockovn-packages")" = "$want" ]; then
  echo "Debian 13 root $ROOT is up to date"
  exit 0
fi
command -v debootstrap >/dev/null || {
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap; }
echo "building the Debian 13 root in $ROOT (about 5 minutes)"
rm -rf "$ROOT.new"
mkdir -p "$(dirname "$ROOT")"
debootstrap --variant=minbase --include="$(grep -v '^#' "$HERE/packages" | paste -sd,)" \
  trixie "$ROOT.new" "$MIRROR"
echo "$want" > "$ROOT.new/.dockovn-packages"
rm -rf "$ROOT"
mv "$ROOT.new" "$ROOT"
echo "Debian 13 root ready: $ROOT"
