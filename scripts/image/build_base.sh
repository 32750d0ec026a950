#!/usr/bin/env bash
# Build a Debian bookworm + Python 3.11 base image offline-ish, for machines that can reach
# Debian's mirror but no container registry (this one: PyPI and apt only).
#
#   scripts/image/build_base.sh            -> localhost/chemagent-base:bookworm (skipped if present)
#   FORCE=1 scripts/image/build_base.sh    -> rebuild it
#
# debootstrap makes a minimal rootfs (minbase) with python3 (3.11 on bookworm), python3-venv
# (venv + its bundled pip wheel, so `python3 -m venv` gives a venv with pip) and
# ca-certificates; `podman import` turns it into an image. Dockerfile.prod takes it with
# --build-arg BASE_IMAGE=localhost/chemagent-base:bookworm. Python lives at /usr/bin/python3
# here and at /usr/local/bin/python3 in the official image: the Dockerfile only calls
# `python3` through PATH and the venv, so either works.
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-localhost/chemagent-base:bookworm}
SUITE=bookworm
PACKAGES=python3,python3-venv,ca-certificates
# shellcheck source=scripts/image/podman_env.sh
source "$(dirname "$0")/podman_env.sh"

if [ -z "${FORCE:-}" ] && podman image exists "$BASE_IMAGE"; then
    echo "build_base: $BASE_IMAGE exists (FORCE=1 rebuilds it)"
    exit 0
fi

# The mirror apt uses on this machine (deb822 sources first, then the one-line format).
mirror() {
    local uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' \
        | grep -v -- '-security' | head -n1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
            | awk '{print $2}' | grep -v -- '-security' | grep -i debian | head -n1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR=${MIRROR:-$(mirror)}

ROOTFS=$(mktemp -d /var/tmp/chemagent-rootfs.XXXXXX)
LOG=$ROOTFS.log
trap 'rm -rf "$ROOTFS" "$LOG"' EXIT
# Quiet unless a step fails: then the last lines of its output.
quietly() {
    "$@" >"$LOG" 2>&1 || { tail -n 30 "$LOG" >&2; echo "build_base: failed: $*" >&2; exit 1; }
}

echo "build_base: debootstrap $SUITE from $MIRROR (minbase + $PACKAGES)"
start=$(date +%s)
quietly debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR"

# Security updates, like the official images carry (same mirror host, -security suite).
security="${MIRROR%/debian}/debian-security"
cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $security $SUITE-security main
EOF
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
quietly chroot "$ROOTFS" sh -c \
    'export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get upgrade -y -q'

# What a container never needs: package lists and caches, docs, man pages, locales.
quietly chroot "$ROOTFS" apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
    "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
    "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/*
find "$ROOTFS"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +
: >"$ROOTFS/etc/resolv.conf"  # the runtime mounts its own
"$ROOTFS/usr/bin/python3" --version >/dev/null

tar --numeric-owner -C "$ROOTFS" -c . | podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$BASE_IMAGE" >/dev/null
echo "build_base: $BASE_IMAGE built in $(($(date +%s) - start)) s," \
    "$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
