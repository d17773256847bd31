#!/usr/bin/env bash
# Run a command inside the Debian 13 root (build-root.sh makes it), in this checkout,
# which is mounted at the same path there.
#
#   scripts/debian13/run.sh [--host-net] COMMAND...
#
# The root gets a mount and pid namespace of its own (DESIGN 14; an overlay mount of the
# root is its /, entered with pivot_root; /proc fresh, /dev bound in, a sysfs of its own,
# /run and /tmp empty): every daemon started inside dies with the command, whatever it
# left. By default it also gets a network namespace of its own (its OVS, OVN and
# dockerd see none of this machine's); --host-net keeps this machine's, to install
# packages and the venv.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROOT=${DEBIAN13_ROOT:-/var/cache/dockovn/debian13}
NS=${DEBIAN13_NETNS:-dockovn-debian13}

host_net=0
if [ "${1:-}" = "--host-net" ]; then host_net=1; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--host-net] COMMAND..." >&2; exit 2; }
if [ ! -f "$ROOT/.dockovn-packages" ]; then
  echo "no Debian 13 root at $ROOT: run scripts/debian13/build-root.sh first" >&2
  exit 2
fi

NET=""
if [ $host_net = 0 ]; then
  ip netns del "$NS" 2>/dev/null || true  # left by an earlier run that was killed
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  trap 'ip netns del "$NS" 2>/dev/null || true' EXIT
  NET="nsenter --net=/run/netns/$NS"
fi

# This machine's ways out (a proxy, its CA bundle, a package index) hold in the root too.
PASS=""
for var in PIP_CERT SSL_CERT_FILE REQUESTS_CA_BUNDLE PIP_INDEX_URL PIP_EXTRA_INDEX_URL \
           PIP_DEFAULT_TIMEOUT http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [ -n "${!var:-}" ] && PASS="$PASS $var=${!var}"
done
# Each run starts from the root as built: its writes (Docker's images and containers,
# OVS's and OVN's databases, logs) go to an overlay that is thrown away next time.
# DEBIAN13_KEEP=1 starts from what the previous run left instead (packages it installed
# with --host-net, say, for a run of `make test` as on a Debian 13 host).
# DEBIAN13_WRITE_ROOT=1 writes to the root itself (build-root.sh installing packages).
RUN=${DEBIAN13_RUN:-/var/tmp/dockovn-debian13-run}
WRITE_ROOT=${DEBIAN13_WRITE_ROOT:-0}
if [ "$WRITE_ROOT" = 1 ]; then
  RUN=$(mktemp -d /var/tmp/dockovn-debian13-build.XXXXXX)
  [ $host_net = 1 ] || { echo "$0: DEBIAN13_WRITE_ROOT=1 needs --host-net" >&2; exit 2; }
  trap 'rm -rf "$RUN"' EXIT
elif [ "${DEBIAN13_KEEP:-0}" != 1 ]; then rm -rf "$RUN"; fi
rm -rf "$RUN/work" "$RUN/merged"
mkdir -p "$RUN/upper" "$RUN/work" "$RUN/merged"

export ROOT REPO NET PASS RUN WRITE_ROOT
export CMD="$*"
$NET unshare --mount --pid --fork bash -c '
  set -e
  mount --make-rprivate /
  if [ "$WRITE_ROOT" = 1 ]; then mount --bind "$ROOT" "$RUN/merged"
  else mount -t overlay overlay -o "lowerdir=$ROOT,upperdir=$RUN/upper,workdir=$RUN/work" "$RUN/merged"
  fi
  ROOT=$RUN/merged
  mount -t proc proc "$ROOT/proc"
  mount --rbind /dev "$ROOT/dev"
  # A sysfs of its own network namespace: one bound from this machine shows this
  # machine'"'"'s interfaces (its eth0, MTU 1400 here), and so would every container'"'"'s /sys.
  mount -t sysfs sysfs "$ROOT/sys"
  mount --rbind /sys/fs/cgroup "$ROOT/sys/fs/cgroup"
  mount -t tmpfs tmpfs "$ROOT/run"
  mount -t tmpfs tmpfs "$ROOT/tmp"
  mkdir -p "$ROOT$REPO"
  mount --bind "$REPO" "$ROOT$REPO"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  # Packages installed in here (--host-net) must not start their services: they would run
  # in this machine'"'"'s network namespace (Debian'"'"'s way for chroots: policy-rc.d says no).
  printf "#!/bin/sh\nexit 101\n" > "$ROOT/usr/sbin/policy-rc.d"
  chmod +x "$ROOT/usr/sbin/policy-rc.d"
  # (Not while building: a package updating the bundle would find it busy.)
  [ "$WRITE_ROOT" = 1 ] || \
    mount --bind /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
  # bash stays pid 1 (the trap keeps it from exec-ing the command): it reaps the orphans
  # of daemons the tests kill, and the tests are not pid 1 (which ignores SIGTERM).
  # pivot_root, not chroot: a chrooted dockerd'"'"'s `docker exec` runs its command in the
  # root'"'"'s file system instead of the container'"'"'s (seen with dockerd 26 here).
  mkdir -p "$ROOT/.oldroot"
  cd "$ROOT"
  pivot_root . .oldroot
  umount -l /.oldroot
  exec /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin $PASS \
    bash -c "trap '"'"'exit 143'"'"' TERM; cd \"$REPO\" && $CMD"
'
