#!/usr/bin/env bash
# Debian packages dockovn needs on a host (and its tests). Installs only what is missing.
set -euo pipefail

# graphviz: the `dot` that draws `dockovn topology --out FILE.svg|png`.
# iptables: the fault suite cuts a host off from the central with it (docker.io pulls it
# in today; named here since the tests use it directly).
PKGS=(openvswitch-switch ovn-central ovn-host docker.io busybox-static iproute2 iputils-ping
      ethtool graphviz iptables ${EXTRA_PKGS:-})

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
