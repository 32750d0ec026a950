# shellcheck shell=bash
# Sourced by the scripts in scripts/image/: run podman the way this kind of machine allows.
#
# Settings come from scripts/image/containers.conf (runc; no ulimits above the sandbox's
# hard limits) through CONTAINERS_CONF, which replaces the system's containers.conf for
# these scripts only. To run the image by hand the same way:
#   export CONTAINERS_CONF=$PWD/scripts/image/containers.conf
# Builds and containers use the host network: RUN pip install needs PyPI, and this machine
# has no bridge networking to give a container its own.

if ! command -v podman >/dev/null 2>&1; then
    echo "podman is missing: run scripts/install-system-deps.sh (as root)" >&2
    exit 1
fi
export CONTAINERS_CONF=${CONTAINERS_CONF:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/containers.conf}
