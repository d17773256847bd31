#!/usr/bin/env bash
# The seed walkthrough on this machine, printed step by step:
# dockovn up, networks foo and bar, two containers on foo pinging each other.
# `scripts/demo.sh --clean` removes what the demo made (dockovn stays up).
set -euo pipefail

DOCKOVN=${DOCKOVN:-dockovn}
# Debian's client matches Debian's dockerd; a newer client may speak a newer API.
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker) || {
  echo "demo: no docker client on this machine (Debian 13: apt-get install docker-cli;" \
       "Debian 12: docker.io)" >&2
  exit 1
}
# Never stop without saying where: `set -e` alone exits silently.
trap 'echo "demo: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
IMAGE=dockovn/busybox

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { printf '\033[36m$ %s\033[0m\n' "$*"; "$@"; }
docker() { "$DOCKER" "$@"; }

clean() {
  "$DOCKER" rm -f busybox busybox2 >/dev/null 2>&1 || true
  "$DOCKER" network rm bar foo >/dev/null 2>&1 || true
}

if [ "${1:-}" = "--clean" ]; then
  clean
  echo "demo containers and networks removed; 'dockovn down' stops the daemons"
  exit 0
fi

bold "1. Start everything on this machine: OVS, OVN central, ovn-controller, the driver, dockerd"
run "$DOCKOVN" up
clean  # a previous demo's containers and networks

bold "2. Create a logical network (an OVN logical switch) and look at it"
run docker network create -d dockovn --subnet=192.168.1.0/24 foo
run docker network ls

bold "3. Start two containers on foo"
run docker run -itd --net=foo --name=busybox "$IMAGE"
run docker run -itd --net=foo --name=busybox2 "$IMAGE"
ip2=$("$DOCKER" inspect -f '{{(index .NetworkSettings.Networks "foo").IPAddress}}' busybox2)

bold "4. They reach each other through OVN (busybox -> busybox2 at $ip2)"
run docker exec busybox ping -c 3 -w 10 "$ip2"

bold "5. A second network, bar: connect busybox to it, look, disconnect, remove"
run docker network create -d dockovn --subnet=192.168.2.0/24 bar
run docker network connect bar busybox
run docker exec busybox ip -4 addr
run "$DOCKOVN" ls
run docker network disconnect bar busybox
run docker network rm bar

bold "6. What OVN holds now"
run "$DOCKOVN" ls

bold "Done. busybox and busybox2 stay up on foo; 'make demo-clean' removes them, 'dockovn down' stops dockovn."
