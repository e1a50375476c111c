#!/usr/bin/env bash
# Debian 13 (trixie) as a supported platform: builds and tests glpdepth inside a Debian 13 root
# made with debootstrap, against Debian's own LibTorch 2.6, with the project's unchanged scripts.
#   scripts/debian13.sh root        make (or update) the root only
#   scripts/debian13.sh make-test   root, then `make test` inside it (build dir build-debian13)
#   scripts/debian13.sh run CMD...  run a command inside it, in the project folder
# The root is cached at $GLPDEPTH_DEBIAN13_ROOT (default /var/cache/glpdepth/debian13) and reused.
# Needs root (debootstrap, chroot, mounts). Mounts are undone on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT=$(pwd)
ROOT=${GLPDEPTH_DEBIAN13_ROOT:-/var/cache/glpdepth/debian13}
MIRROR=${GLPDEPTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
INSIDE=/glpdepth  # where the project appears inside the root
TIMEOUT=${GLPDEPTH_DEBIAN13_TIMEOUT:-3600}

[ "$(id -u)" -eq 0 ] || { echo "debian13: needs root (debootstrap, chroot, mounts)" >&2; exit 1; }

make_root() {
  if [ -f "$ROOT/.glpdepth-root-complete" ]; then
    echo "debian13: reusing $ROOT"
    return
  fi
  command -v debootstrap >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
  echo "debian13: debootstrap --variant=minbase trixie $ROOT (about a minute)"
  rm -rf "$ROOT"
  mkdir -p "$ROOT"
  debootstrap --variant=minbase trixie "$ROOT" "$MIRROR" >/dev/null
  touch "$ROOT/.glpdepth-root-complete"
}

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT

bind() {  # bind SOURCE TARGET-INSIDE
  mkdir -p "$ROOT$2"
  mount --bind "$1" "$ROOT$2"
  mounted+=("$ROOT$2")
}

enter() {  # enter COMMAND...: runs in the project folder inside the root
  mkdir -p "$ROOT/proc" "$ROOT$INSIDE"
  mount -t proc proc "$ROOT/proc"
  mounted+=("$ROOT/proc")
  bind /dev /dev
  bind /dev/pts /dev/pts
  bind "$PROJECT" "$INSIDE"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  timeout --kill-after=30 "$TIMEOUT" chroot "$ROOT" /usr/bin/env -i \
    HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM="${TERM:-dumb}" /bin/bash -c 'cd "$0" && "$@"' "$INSIDE" "$@"
}

case "${1:-make-test}" in
  root) make_root ;;
  make-test)
    make_root
    # apt needs make itself before the project's Makefile can run install-deps.
    enter bash -c 'command -v make >/dev/null || { apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make >/dev/null; }
      make test BUILD_DIR=build-debian13' ;;
  run)
    shift
    make_root
    enter "$@" ;;
  *) echo "usage: scripts/debian13.sh root | make-test | run CMD..." >&2; exit 2 ;;
esac
