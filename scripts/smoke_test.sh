#!/usr/bin/env bash
# Smoke test of a deployed ChemAgent: what CI and ops run right after a deploy.
#
#   scripts/smoke_test.sh URL        e.g. scripts/smoke_test.sh https://chemagent.staging.example.org
#
# One line per check, PASS or FAIL with what was wrong; exit 0 when every check passed,
# 1 when any failed (an unreachable URL fails them all), 2 on a usage error.
#
# Checks, in order (docs/API.md has the bodies):
#   healthz   GET /healthz             200, {"status": "ok"}
#   readyz    GET /readyz              200, status "ready" (Redis "degraded" is still ready)
#   version   GET /version             200, a version and a commit
#   lookup    GET /v1/compounds/ID     200, the compound's ID and name, a SMILES
#   query     POST /v1/query           200, status "ok", the answer names the expected ID
#   metrics   GET /metrics             200, samples of every expected family (the lookup and
#                                      the query above make the step and query ones appear),
#                                      chemagent_build_info's version = /version's
#
# Settings (environment; the defaults suit the bundled library):
#   SMOKE_TIMEOUT=10                  seconds per HTTP call (curl --max-time)
#   SMOKE_COMPOUND=CHEMBL25           the lookup's ID ...
#   SMOKE_COMPOUND_NAME=ASPIRIN       ... and its expected pref_name (case-insensitive)
#   SMOKE_QUERY='Which has higher LogP: aspirin or ibuprofen?'
#   SMOKE_QUERY_EXPECT=CHEMBL521      text the query's answer must contain
#   SMOKE_METRICS_ATTEMPTS=3          scrapes before the metrics check fails: behind a load
#                                     balancer the scrape may reach a pod that has not served a
#                                     query yet, so each retry sends the lookup and query again
#   SMOKE_CURL_ARGS=                  extra curl arguments, split on spaces (e.g. "-k", or
#                                     "--resolve host:443:10.0.0.5")
#   SMOKE_JSON_TOOL=auto              jq when installed, else python3; or force jq / python3
set -uo pipefail # no -e: every check runs and records its own failure

usage() {
    sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
}

if [ $# -ne 1 ] || [ -z "$1" ] || [[ "$1" == -* ]]; then
    usage
fi
BASE_URL=${1%/}
TIMEOUT=${SMOKE_TIMEOUT:-10}
COMPOUND=${SMOKE_COMPOUND:-CHEMBL25}
COMPOUND_NAME=${SMOKE_COMPOUND_NAME:-ASPIRIN}
QUERY=${SMOKE_QUERY:-Which has higher LogP: aspirin or ibuprofen?}
QUERY_EXPECT=${SMOKE_QUERY_EXPECT:-CHEMBL521}
METRICS_ATTEMPTS=${SMOKE_METRICS_ATTEMPTS:-3}
read -r -a EXTRA_CURL_ARGS <<<"${SMOKE_CURL_ARGS:-}"
# Families the dashboards and alerts read (docs/OBSERVABILITY.md#catalogue). Cache and
# upstream families are left out: they only appear with Redis or the ChEMBL upstream.
METRIC_FAMILIES=(
    http_requests_total
    http_request_duration_seconds
    http_requests_in_flight
    chemagent_step_duration_seconds
    chemagent_queries_total
    chemagent_query_duration_seconds
    chemagent_build_info
)

case "${SMOKE_JSON_TOOL:-auto}" in
auto) if command -v jq >/dev/null 2>&1; then JSON_TOOL=jq; else JSON_TOOL=python3; fi ;;
jq | python3) JSON_TOOL=$SMOKE_JSON_TOOL ;;
*) echo "smoke_test: SMOKE_JSON_TOOL must be auto, jq or python3" >&2 && exit 2 ;;
esac
if ! command -v "$JSON_TOOL" >/dev/null 2>&1; then
    echo "smoke_test: $JSON_TOOL is needed to read JSON and is not installed" >&2
    exit 2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
BODY=$WORK/body
passed=0
failed=0

pass() {
    echo "PASS $1: $2"
    passed=$((passed + 1))
}
fail() {
    echo "FAIL $1: $2"
    failed=$((failed + 1))
}

# http METHOD PATH [JSON_BODY]: sets STATUS (000 when no HTTP answer) and CURL_ERROR;
# the response body is in $BODY.
http() {
    local method=$1 path=$2 data=${3:-}
    local args=(-sS -X "$method" --max-time "$TIMEOUT" --connect-timeout "$TIMEOUT"
        -H 'User-Agent: chemagent-smoke-test' -o "$BODY" -w '%{http_code}')
    [ -z "$data" ] || args+=(-H 'Content-Type: application/json' --data-binary "$data")
    : >"$BODY"
    STATUS=$(curl "${args[@]}" "${EXTRA_CURL_ARGS[@]}" "$BASE_URL$path" 2>"$WORK/curl.err")
    CURL_ERROR=$(<"$WORK/curl.err")
    CURL_ERROR=${CURL_ERROR//$'\n'/ }
    [ -n "$STATUS" ] || STATUS=000
}

# read_json PATH...: the values at dotted PATHs (e.g. library.size) of the JSON in $BODY,
# one per PATH, into the array J ("" when absent or null, newlines as spaces). One jq or
# python3 run per response. A body that is not JSON gives empty values.
read_json() {
    local out
    if [ "$JSON_TOOL" = jq ]; then
        out=$(jq -r '. as $doc | $ARGS.positional[]
            | (. as $path | try ($doc | getpath($path | split("."))) catch null) // ""
            | tostring | gsub("\n"; " ")' "$BODY" --args "$@" 2>/dev/null)
    else
        out=$(python3 - "$BODY" "$@" 2>/dev/null <<'PY'
import json, sys
try:
    doc = json.load(open(sys.argv[1], encoding="utf-8"))
except ValueError:
    doc = None
for path in sys.argv[2:]:
    value = doc
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    text = "" if value is None else value if isinstance(value, str) else json.dumps(value)
    print(text.replace("\n", " "))
PY
        )
    fi
    mapfile -t J <<<"$out"
    while [ "${#J[@]}" -lt $# ]; do J+=(""); done # not JSON: every value empty
}

# json_string TEXT: TEXT as a JSON string literal (for the query body).
json_string() {
    if [ "$JSON_TOOL" = jq ]; then
        jq -n --arg text "$1" '$text'
    else
        python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"
    fi
}

snippet() { head -c 200 "$BODY" | tr '\n' ' '; }

# expect_status NAME WANT: true when STATUS is WANT; else records why the check failed.
expect_status() {
    local name=$1 want=$2
    if [ "$STATUS" = 000 ]; then
        fail "$name" "no HTTP answer from $BASE_URL (${CURL_ERROR:-curl failed})"
        return 1
    elif [ "$STATUS" != "$want" ]; then
        fail "$name" "HTTP $STATUS, want $want; body: $(snippet)"
        return 1
    fi
}

check_healthz() {
    http GET /healthz
    expect_status healthz 200 || return
    read_json status
    local status=${J[0]}
    if [ "$status" = ok ]; then
        pass healthz "200, status ok"
    else
        fail healthz "status '${status}', want 'ok'; body: $(snippet)"
    fi
}

check_readyz() {
    http GET /readyz
    expect_status readyz 200 || return
    read_json status library.name library.size redis chembl
    local status=${J[0]}
    if [ "$status" = ready ]; then
        pass readyz "200, status ready; library ${J[1]} (${J[2]} compounds), redis ${J[3]}, chembl ${J[4]}"
    else
        fail readyz "status '${status}', want 'ready'; body: $(snippet)"
    fi
}

VERSION=""
check_version() {
    http GET /version
    expect_status version 200 || return
    read_json version commit rdkit_version
    VERSION=${J[0]}
    local commit=${J[1]}
    if [ -n "$VERSION" ] && [ -n "$commit" ]; then
        pass version "version $VERSION, commit $commit, rdkit ${J[2]}"
    else
        fail version "want a version and a commit; body: $(snippet)"
    fi
}

check_lookup() {
    http GET "/v1/compounds/$COMPOUND"
    expect_status lookup 200 || return
    read_json chembl_id pref_name molecule_structures.canonical_smiles
    local id=${J[0]} name=${J[1]} smiles=${J[2]}
    if [ "$id" != "$COMPOUND" ]; then
        fail lookup "chembl_id '$id', want '$COMPOUND'; body: $(snippet)"
    elif [ "${name^^}" != "${COMPOUND_NAME^^}" ]; then
        fail lookup "pref_name '$name', want '$COMPOUND_NAME'"
    elif [ -z "$smiles" ]; then
        fail lookup "no molecule_structures.canonical_smiles; body: $(snippet)"
    else
        pass lookup "$id is $name, $smiles"
    fi
}

send_query() { http POST /v1/query "{\"query\": $(json_string "$QUERY")}"; }

check_query() {
    send_query
    expect_status query 200 || return
    read_json status answer intent.kind
    local status=${J[0]} answer=${J[1]}
    if [ "$status" != ok ]; then
        fail query "status '$status', want 'ok'; answer: ${answer:-$(snippet)}"
    elif [[ "$answer" != *"$QUERY_EXPECT"* ]]; then
        fail query "the answer does not mention '$QUERY_EXPECT': $answer"
    else
        pass query "intent ${J[2]}: $answer"
    fi
}

# missing_families: the expected families with no sample in $BODY, space-separated.
missing_families() {
    local family absent=()
    for family in "${METRIC_FAMILIES[@]}"; do
        grep -Eq "^${family}(_bucket|_count|_sum)?[{ ]" "$BODY" || absent+=("$family")
    done
    echo "${absent[*]}"
}

check_metrics() {
    local attempt missing=""
    for ((attempt = 1; attempt <= METRICS_ATTEMPTS; attempt++)); do
        if [ "$attempt" -gt 1 ]; then # maybe another pod: give it traffic first
            sleep 1
            http GET "/v1/compounds/$COMPOUND"
            send_query
        fi
        http GET /metrics
        [ "$STATUS" = 200 ] || continue
        missing=$(missing_families)
        [ -z "$missing" ] && break
    done
    expect_status metrics 200 || return
    if [ -n "$missing" ]; then
        fail metrics "no samples of: $missing (after $METRICS_ATTEMPTS scrapes)"
        return
    fi
    local build
    build=$(grep -E '^chemagent_build_info\{' "$BODY" | head -n 1)
    if [ -n "$VERSION" ] && [[ "$build" != *"version=\"$VERSION\""* ]]; then
        fail metrics "chemagent_build_info does not say version $VERSION: $build"
        return
    fi
    pass metrics "${#METRIC_FAMILIES[@]} families present ($(grep -c -v '^#' "$BODY") samples); $build"
}

echo "smoke_test: $BASE_URL (timeout ${TIMEOUT} s per call, JSON via $JSON_TOOL)"
check_healthz
if [ "$STATUS" = 000 ]; then # nothing answers: say so for every check, do not wait again
    for name in readyz version lookup query metrics; do
        fail "$name" "not run: $BASE_URL is unreachable"
    done
else
    check_readyz
    check_version
    check_lookup
    check_query
    check_metrics
fi
echo "smoke_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
