#!/usr/bin/env bash
# Debian packages dockovn needs on a host (and its tests). Installs only what is missing.
set -euo pipefail

# graphviz: the `dot` that draws `dockovn topology --out FILE.svg|png`.
# iptables: the fault suite cuts a host off from the central with it (docker.io pulls it
# in today; named here since the tests use it directly).
# wireguard-go, wireguard-tools: encrypted tunnels (userspace WireGuard, and `wg` to drive
# it); tcpdump: the tests read what crosses the underlay.
PKGS=(openvswitch-switch ovn-central ovn-host docker.io busybox-static iproute2 iputils-ping
      ethtool graphviz iptables wireguard-go wireguard-tools tcpdump ${EXTRA_PKGS:-})

# The releases dockovn is made and tested on; elsewhere package names and versions differ.
. /etc/os-release
case "${ID:-}:${VERSION_ID:-}" in
  debian:12) ;;
  # Debian 13 ships the docker client as its own package, which docker.io only recommends:
  # a host installed without Recommends would have dockerd and no `docker`.
  debian:13) PKGS+=(docker-cli) ;;
  *)
    if [ -z "${DOCKOVN_ANY_OS:-}" ]; then
      echo "dockovn: this machine runs ${PRETTY_NAME:-an unknown system}; dockovn is made and" \
           "tested on Debian 12 and Debian 13 only (package names and versions differ" \
           "elsewhere). Set DOCKOVN_ANY_OS=1 to try anyway." >&2
      exit 1
    fi ;;
esac

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
