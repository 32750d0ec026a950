#!/usr/bin/env bash
# Roll ChemAgent back to the previous revision of its Deployment in one environment, and wait
# until the old pods serve again. CI runs it when the smoke test after a prod deploy fails.
#
#   scripts/rollback.sh [--dry-run] ENV        ENV = dev | staging | prod
#
# Environment:
#   TO_REVISION      roll back to this revision (see `kubectl rollout history`); unset = previous
#   NAMESPACE        namespace (default: the overlay's `namespace:`, else chemagent-ENV)
#   ROLLOUT_TIMEOUT  how long `kubectl rollout status` waits (default 300s)
#   OVERLAYS_DIR     where the overlays live (default kubernetes/overlays); only read for the
#                    namespace, so a rollback works even when the overlay is broken
#
# Only the Deployment goes back: a ConfigMap or Secret changed by the bad deploy stays as it
# is (redeploy the previous tag with scripts/deploy.sh for that).
# --dry-run prints the kubectl commands without running them (no cluster needed).
# Exit codes: 0 rolled back, 1 a kubectl step failed, 2 bad arguments.
set -euo pipefail

# shellcheck source=scripts/lib/env_args.sh
source "$(dirname "$0")/lib/env_args.sh"
say() { echo "rollback: $*" >&2; }
parse_env_args rollback "$@"

revision="${TO_REVISION:-}"
if [ -n "$revision" ] && ! [[ "$revision" =~ ^[1-9][0-9]*$ ]]; then
    echo "rollback: TO_REVISION '$revision' is not a revision number" >&2
    exit 2
fi

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
namespace="$(overlay_namespace "${OVERLAYS_DIR:-$repo_root/kubernetes/overlays}/$env_name")"
target="deployment/chemagent"
timeout="${ROLLOUT_TIMEOUT:-300s}"

history=(kubectl rollout history "$target" -n "$namespace")
undo=(kubectl rollout undo "$target" -n "$namespace")
[ -z "$revision" ] || undo+=("--to-revision=$revision")
rollout=(kubectl rollout status "$target" -n "$namespace" "--timeout=$timeout")

if [ "$dry_run" -eq 1 ]; then
    say "dry run: would run: ${history[*]}"
    say "dry run: would run: ${undo[*]}"
    say "dry run: would run: ${rollout[*]}"
    exit 0
fi

say "$target in $namespace, revisions before the rollback:"
"${history[@]}"
say "rolling back to ${revision:-the previous revision}"
"${undo[@]}"
say "waiting up to $timeout for the rollback to finish"
if ! "${rollout[@]}"; then
    say "the rollback did not finish in $timeout: look at kubectl get pods -n $namespace"
    exit 1
fi
say "rolled back $env_name"
