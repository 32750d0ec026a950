#!/bin/sh
# Container entrypoint (Dockerfile.prod): `chemagent serve` with WEB_CONCURRENCY workers.
#
# WEB_CONCURRENCY unset: gunicorn_config.default_workers(), one per CPU the container may
# use. 1 runs uvicorn in this process, more exec gunicorn (see chemagent serve --help).
# Extra arguments go to `chemagent serve` (e.g. --port 9000; but prefer CHEMAGENT_PORT,
# which the HEALTHCHECK reads too). Other commands: --entrypoint chemagent.
# `exec` all the way down, so the server is PID 1 and receives SIGTERM itself.
set -eu

workers=${WEB_CONCURRENCY:-}
if [ -z "$workers" ]; then
    workers=$(python -c 'from chemagent.gunicorn_config import default_workers; print(default_workers())')
fi
exec chemagent serve --workers "$workers" "$@"
