#!/usr/bin/env bash
# Install the Debian packages the test suite needs (idempotent; run as root).
# `install-system-deps.sh image`: only those of `make image` (podman, runc, debootstrap).
#
#   chromium + chromium-driver   the end-to-end test of the query page (tests/e2e)
#   redis-server                 the shared L2 cache tests (tests/integration)
#   prometheus (promtool)        scraping and rule checks (tests/integration)
#   wrk                          the HTTP overhead benchmark (make bench), scripts/load_test.sh
#   nginx                        nginx -t and a live run of the compose load balancer (tests/deploy)
#   podman + runc + debootstrap  make image / make image-test (Dockerfile.prod, offline base)
#   binutils (readelf, strip)    the image's venv pruning tests (tests/deploy/test_image_pruning.py)
#
# When every binary is already on PATH it returns at once without touching apt. Services
# are never started: a temporary policy-rc.d refuses them (a container has no init).
set -euo pipefail

PACKAGES=(chromium chromium-driver redis-server prometheus wrk nginx podman runc debootstrap binutils)
BINARIES=(chromium chromedriver redis-server promtool prometheus wrk nginx podman runc debootstrap readelf strip)
if [ "${1:-}" = "image" ]; then  # only what make image needs (CI's image job, any distro)
    PACKAGES=(podman runc debootstrap)
    BINARIES=(podman runc debootstrap)
fi

missing=()
for binary in "${BINARIES[@]}"; do
    command -v "$binary" >/dev/null 2>&1 || missing+=("$binary")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-system-deps: all present (${BINARIES[*]})"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    exec sudo -n bash "$0" "$@"  # e.g. a CI runner's user with passwordless sudo
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: missing ${missing[*]}; run as root:" \
        "sudo scripts/install-system-deps.sh (apt-get install ${PACKAGES[*]})" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
    # invoke-rc.d asks this script before starting a service; 101 = "not allowed".
    printf '#!/bin/sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    trap 'rm -f "$POLICY"' EXIT
fi

# apt-get update only when the package lists do not know every package (fresh machine).
known() {
    local package candidate
    for package in "${PACKAGES[@]}"; do
        candidate=$(apt-cache policy "$package" 2>/dev/null | awk '/Candidate:/ {print $2}')
        if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
            return 1
        fi
    done
}
install() {
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
}

echo "install-system-deps: missing ${missing[*]}; installing ${PACKAGES[*]}"
updated=0
if ! known; then
    apt-get update -q
    updated=1
fi
# Lists that know the packages can still be stale (a 404 on download): update, retry once.
if ! install; then
    [ "$updated" -eq 0 ] || exit 1
    apt-get update -q
    install
fi

for binary in "${BINARIES[@]}"; do
    if ! command -v "$binary" >/dev/null 2>&1; then
        echo "install-system-deps: $binary still missing after the install" >&2
        exit 1
    fi
done
echo "install-system-deps: installed (${BINARIES[*]})"
