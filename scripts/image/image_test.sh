#!/usr/bin/env bash
# make image-test: run the image built by `make image` the way Kubernetes runs it, and check it.
#
#   scripts/image/image_test.sh                     (IMAGE=localhost/chemagent:local)
#
# The container runs with a read-only root filesystem, tmpfs only on the two paths the
# image declares writable (/tmp and PROMETHEUS_MULTIPROC_DIR), every capability dropped,
# no-new-privileges, the image's own user, 2 gunicorn workers, on a free loopback port of
# the host network. Checks: the image's metadata (user, labels, healthcheck, no compiler,
# size under IMAGE_MAX_MB), readiness, /healthz, /readyz, /version, a plain-English query,
# similarity and substructure search (FPSim2, PyTables, the pruned SciPy), standardization
# (the ChEMBL pipeline), an SVG depiction (RDKit's drawing libraries), /metrics families
# summed over the workers, a .pyc for every module the app imports, the uid of every
# process, the read-only root, the image's HEALTHCHECK command, JSON logs without errors,
# and a clean stop on SIGTERM within the grace period. One PASS/FAIL line each; exit 1 on
# any FAIL.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=scripts/image/podman_env.sh
source scripts/image/podman_env.sh

IMAGE=${IMAGE:-localhost/chemagent:local}
READY_SECONDS=${READY_SECONDS:-120}  # a worker loads the library in 2-13 s; CI may be busy
# podman stop's grace: longer than gunicorn's graceful_timeout (drain 5 + request 30 + 5 s),
# so a SIGKILL (exit 137) means the service did not stop by itself in time.
STOP_GRACE=${STOP_GRACE:-50}
# The image size goal (issue 6), in MB of 10^6 bytes as podman reports it. The account of
# what makes up the size is in docs/DEPLOYMENT.md.
IMAGE_MAX_MB=${IMAGE_MAX_MB:-500}
NAME=chemagent-image-test-$$
WORK=$(mktemp -d)
passed=0
failed=0

pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() {  # check DESCRIPTION COMMAND...: PASS when the command succeeds
    local what=$1
    shift
    if "$@" >"$WORK/check.out" 2>&1; then
        pass "$what"
    else
        fail "$what: $(tail -c 600 "$WORK/check.out")"
    fi
}
# shellcheck disable=SC2329 # called by the EXIT trap below
cleanup() {
    podman rm --force --time 0 "$NAME" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
# A JSON file's field, by a Python expression on `d`: json_get FILE 'd["status"]'
json_get() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1"; }
# HTTP status of a request; the body goes to $WORK/body.
http() { curl --silent --max-time 30 --output "$WORK/body" --write-out '%{http_code}' "$@"; }
summary() {
    echo "image: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

if ! podman image exists "$IMAGE"; then
    fail "image $IMAGE not found: run make image first"
    summary
fi

# --- the image's metadata ------------------------------------------------------------------
inspect() { podman image inspect --format "$1" "$IMAGE"; }
revision=$(inspect '{{index .Config.Labels "org.opencontainers.image.revision"}}')
version=$(inspect '{{index .Config.Labels "org.opencontainers.image.version"}}')
expected_version=$(python3 -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")
# The commit the image must say it was built from: this checkout's (make image-test builds
# it first), or EXPECTED_REVISION for an image built elsewhere; empty skips the comparison.
expected_revision=${EXPECTED_REVISION-$(git rev-parse HEAD 2>/dev/null || true)}
check "image user is 10001:10001" test "$(inspect '{{.Config.User}}')" = "10001:10001"
check "OCI labels: version $version, revision ${revision:0:12}${expected_revision:+ (expected ${expected_revision:0:12})}, created, source" sh -c "
    test '$version' = '$expected_version' && test -n '$revision' \
    && { [ -z '$expected_revision' ] || test '$revision' = '$expected_revision'; } \
    && test -n \"\$(podman image inspect --format '{{index .Config.Labels \"org.opencontainers.image.created\"}}' '$IMAGE')\" \
    && test -n \"\$(podman image inspect --format '{{index .Config.Labels \"org.opencontainers.image.source\"}}' '$IMAGE')\""
check "HEALTHCHECK is in the image (docker format)" sh -c \
    "podman image inspect --format '{{json .HealthCheck}}' '$IMAGE' | grep -q healthz"
size_mb=$(($(inspect '{{.Size}}') / 1000000))
check "image size ${size_mb} MB < ${IMAGE_MAX_MB} MB" test "$size_mb" -lt "$IMAGE_MAX_MB"
check "no compiler or build tool in the image" sh -c "
    found=\$(podman run --rm --network none --entrypoint sh '$IMAGE' -c \
        'for c in gcc cc c++ g++ clang make ld as; do command -v \$c; done' 2>/dev/null)
    [ -z \"\$found\" ] || { echo \"found: \$found\"; exit 1; }"

# --- run it ----------------------------------------------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# tmpfs option U: owned by the container's user. The image's VOLUME declarations make podman
# copy the image directory's mode (0755) onto the tmpfs, so mode=1777 alone is not enough.
# --health-interval disable: the HEALTHCHECK runs below, by hand (no systemd timers here).
started=$(date +%s.%N)
if ! podman run --detach --name "$NAME" \
    --network host \
    --read-only --read-only-tmpfs=false \
    --tmpfs /tmp:rw,size=64m,U \
    --tmpfs /var/run/chemagent/metrics:rw,size=32m,U \
    --cap-drop ALL --security-opt no-new-privileges \
    --health-interval disable \
    --env CHEMAGENT_HOST=127.0.0.1 --env CHEMAGENT_PORT="$port" --env WEB_CONCURRENCY=2 \
    "$IMAGE" >"$WORK/run.out" 2>"$WORK/podman.err"; then
    fail "podman run: $(tail -n 5 "$WORK/podman.err")"
    summary
fi

ready=""
deadline=$(($(date +%s) + READY_SECONDS))
while [ "$(date +%s)" -lt "$deadline" ]; do
    if [ "$(podman inspect --format '{{.State.Running}}' "$NAME" 2>/dev/null)" != "true" ]; then
        break
    fi
    if [ "$(http "$base/readyz")" = "200" ]; then
        ready=$(python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$started")
        break
    fi
    sleep 0.25
done
if [ -z "$ready" ]; then
    fail "not ready within ${READY_SECONDS} s; last log lines:"
    podman logs --tail 20 "$NAME" 2>&1 | cut -c1-400
    summary
fi
pass "ready ${ready} s after podman run (2 workers, library loaded)"

# --- HTTP ------------------------------------------------------------------------------------
status=$(http "$base/healthz")
check "GET /healthz -> 200 {\"status\": \"ok\"}" sh -c \
    "[ $status = 200 ] && [ \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"status\"])' $WORK/body)\" = ok ]"

status=$(http "$base/readyz")
cp "$WORK/body" "$WORK/readyz.json"
size=$(json_get "$WORK/readyz.json" 'd["library"]["size"]' 2>/dev/null || echo 0)
check "GET /readyz -> 200 ready, bundled library in the image ($size compounds)" sh -c \
    "[ $status = 200 ] && [ \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"status\"])' $WORK/readyz.json)\" = ready ] && [ $size -gt 1000 ]"

status=$(http "$base/version")
commit=$(json_get "$WORK/body" 'd["commit"]' 2>/dev/null || echo "?")
check "GET /version -> commit $commit = the image's revision label" \
    test "$status:$commit" = "200:$revision"

status=$(http "$base/v1/query" -H 'content-type: application/json' \
    -d '{"query": "Which has higher LogP: aspirin or ibuprofen?"}')
answer=$(json_get "$WORK/body" 'd["status"] + ": " + d["answer"]' 2>/dev/null || head -c 300 "$WORK/body")
check "POST /v1/query -> 200 \"$answer\"" sh -c \
    "[ $status = 200 ] && printf '%s' \"$answer\" | grep -q '^ok: Ibuprofen (CHEMBL521)'"

status=$(http "$base/v1/similarity" -H 'content-type: application/json' \
    -d '{"query": "CC(=O)Oc1ccccc1C(=O)O", "threshold": 0.4, "limit": 3}')
top=$(json_get "$WORK/body" 'd["results"][0]["chembl_id"] + " " + str(d["results"][0]["similarity"])' 2>/dev/null || head -c 300 "$WORK/body")
check "POST /v1/similarity (aspirin) -> 200, top hit $top (FPSim2)" test "$status:$top" = "200:CHEMBL25 1.0"

status=$(http "$base/v1/substructure" -H 'content-type: application/json' -d '{"smarts": "S(=O)(=O)N", "limit": 5}')
hits=$(json_get "$WORK/body" 'd["count"]' 2>/dev/null || head -c 300 "$WORK/body")
check "POST /v1/substructure (sulfonamide) -> 200, $hits hits" test "$status:$hits" = "200:5"

status=$(http "$base/v1/standardize" -H 'content-type: application/json' -d '{"smiles": "CN1CCC[C@H]1c1cccnc1.Cl"}')
parent=$(json_get "$WORK/body" 'd["parent_smiles"]' 2>/dev/null || head -c 300 "$WORK/body")
check "POST /v1/standardize (nicotine HCl) -> 200, parent $parent (ChEMBL pipeline)" \
    test "$status:$parent" = "200:CN1CCC[C@H]1c1cccnc1"

status=$(http "$base/v1/compounds/CHEMBL25/image.svg")
check "GET /v1/compounds/CHEMBL25/image.svg -> 200 SVG (RDKit drawing libraries present)" sh -c \
    "[ $status = 200 ] && grep -q '<svg' $WORK/body"

status=$(http "$base/metrics")
missing=""
for family in http_requests_total http_request_duration_seconds http_requests_in_flight \
    chemagent_step_duration_seconds chemagent_queries_total chemagent_query_duration_seconds \
    chemagent_cache_requests_total chemagent_build_info; do
    grep -q "^# TYPE $family " "$WORK/body" || missing="$missing $family"
done
check "GET /metrics -> 200 with every expected family${missing:+ (missing:$missing)}" \
    test "$status:$missing" = "200:"
check "/metrics counts the query (summed over the workers' files)" \
    grep -Eq '^http_requests_total\{method="POST",route="/v1/query",status="200"\} [1-9]' "$WORK/body"

# The app stage byte-compiled what the service imported in a run (warm_pyc.py): with a
# read-only root, a module without its .pyc would be compiled again by every process.
check "every module the app imports has its .pyc in the image" podman exec "$NAME" python -c '
import importlib.util, os, sys
from chemagent.app import create_app
create_app()
missing = [name for name, module in sorted(sys.modules.items())
           if (getattr(module, "__file__", None) or "").startswith("/opt/") and module.__file__.endswith(".py")
           and not os.path.exists(importlib.util.cache_from_source(module.__file__))]
print(len(sys.modules), "modules;", len(missing), "without a .pyc:", " ".join(missing[:10]))
sys.exit(1 if missing else 0)
'

# --- the process -----------------------------------------------------------------------------
check "every process runs as uid 10001 (gunicorn master + 2 workers)" sh -c "
    users=\$(podman top '$NAME' huser | tail -n +2)
    echo \"\$users\"
    [ \"\$(echo \"\$users\" | wc -l)\" -ge 3 ] && [ -z \"\$(echo \"\$users\" | grep -v '^10001\$')\" ] \
        && [ \"\$(podman exec '$NAME' id -u)\" = 10001 ]"
check "no effective capabilities (--cap-drop ALL, as in Kubernetes)" sh -c "
    caps=\$(podman top '$NAME' capeff | tail -n +2)
    echo \"\$caps\"
    [ -n \"\$caps\" ] && [ -z \"\$(echo \"\$caps\" | grep -v '^none\$')\" ]"
check "root filesystem is read-only; metric files are in the tmpfs" sh -c "
    ! podman exec '$NAME' sh -c 'touch /opt/venv/probe' 2>/dev/null \
    && podman exec '$NAME' sh -c 'ls /var/run/chemagent/metrics' | grep -q '^counter_.*\.db\$'"
check "the image's HEALTHCHECK command passes" podman healthcheck run "$NAME"
check "Kubernetes' preStop hook can run: sleep is in the image" podman exec "$NAME" sleep 0

# --- SIGTERM -----------------------------------------------------------------------------------
stop_started=$(date +%s.%N)
podman stop --time "$STOP_GRACE" "$NAME" >/dev/null 2>>"$WORK/podman.err"
stopped=$(python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$stop_started")
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME" 2>/dev/null)
# 0: gunicorn's master (or uvicorn) handled SIGTERM and exited; 143 is a SIGTERM death that
# still let the workers finish (logs checked below); 137 is podman's SIGKILL after the grace.
check "SIGTERM: stopped in ${stopped} s (grace ${STOP_GRACE} s), exit code $code" sh -c \
    "[ $code = 0 ] || [ $code = 143 ]"
podman logs "$NAME" >"$WORK/logs" 2>&1
check "logs show a graceful shutdown" grep -Eq 'Shutting down: Master|Finished server process' "$WORK/logs"
check "logs: one JSON object a line, no error, no traceback" python3 -c '
import json, sys
bad = []
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = line.rstrip("\n")
    if not line:
        continue
    try:
        record = json.loads(line)
    except ValueError:
        bad.append("not JSON: " + line[:200])
        continue
    if record.get("level") in ("error", "critical") or "exception" in record:
        bad.append(record.get("level", "?") + ": " + str(record.get("message"))[:200])
    elif "Traceback" in line:
        bad.append("traceback: " + line[:200])
print("\n".join(bad[:5]))
sys.exit(1 if bad else 0)
' "$WORK/logs"

echo "image: start to ready ${ready} s, SIGTERM to exit ${stopped} s," \
    "size $(($(inspect '{{.Size}}') / 1000000)) MB"
summary
