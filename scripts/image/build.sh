#!/usr/bin/env bash
# make image: build Dockerfile.prod with podman.
#
#   scripts/image/build.sh                      -> localhost/chemagent:local
#   IMAGE=ghcr.io/x/chemagent:1.2 scripts/image/build.sh
#   BASE_IMAGE=... scripts/image/build.sh       -> that base, never the fallback
#
# The base: the Dockerfile's default (the official python:3.11-slim-bookworm) when it is
# present or can be pulled; otherwise the Debian base that build_base.sh makes with
# debootstrap (built once, then reused). Prints the build time and the image size.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/image/podman_env.sh
source scripts/image/podman_env.sh

IMAGE=${IMAGE:-localhost/chemagent:local}
DEFAULT_BASE=docker.io/library/python:3.11-slim-bookworm
LOCAL_BASE=localhost/chemagent-base:bookworm

base=${BASE_IMAGE:-}
if [ -z "$base" ]; then
    if podman image exists "$DEFAULT_BASE" || podman pull --quiet "$DEFAULT_BASE" >/dev/null 2>&1; then
        base=$DEFAULT_BASE
    else
        echo "image: $DEFAULT_BASE cannot be pulled here; using $LOCAL_BASE (debootstrap)"
        BASE_IMAGE=$LOCAL_BASE bash scripts/image/build_base.sh
        base=$LOCAL_BASE
    fi
fi

version=$(python3 -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# pip in the builder trusts what pip here trusts (this machine reaches PyPI through a
# TLS-inspecting proxy whose CA is only in the host's bundle): a build secret, not a layer.
cert=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
secret=()
[ -s "$cert" ] && secret=(--secret "id=pip_cert,src=$cert")
# More podman build flags, e.g. PODMAN_BUILD_FLAGS=--no-cache.
read -r -a extra <<<"${PODMAN_BUILD_FLAGS:-}"

echo "image: building $IMAGE (version $version, revision $revision) on $base"
start=$(date +%s)
# --format docker: the OCI format has no HEALTHCHECK (podman would drop it with a warning).
# --pull=never: the base was made present above (a localhost/ image can never be pulled).
podman build \
    --file Dockerfile.prod \
    --tag "$IMAGE" \
    --format docker \
    --network host \
    --pull=never \
    --build-arg "BASE_IMAGE=$base" \
    --build-arg "VERSION=$version" \
    --build-arg "REVISION=$revision" \
    --build-arg "CREATED=$created" \
    "${secret[@]}" \
    "${extra[@]}" \
    .
seconds=$(($(date +%s) - start))
bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "image: built $IMAGE in ${seconds} s; size $((bytes / 1000000)) MB (goal < 500 MB)"
