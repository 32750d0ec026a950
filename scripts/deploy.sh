#!/usr/bin/env bash
# Deploy ChemAgent to one environment: render its kustomize overlay, optionally pin the
# image, apply the manifests and wait for the Deployment's rollout.
#
#   scripts/deploy.sh [--dry-run] ENV          ENV = dev | staging | prod
#
# Environment:
#   IMAGE            image to run, a full reference (ghcr.io/org/chemagent:1.2.3 or
#                    ghcr.io/org/chemagent@sha256:...); unset = the image the overlay names
#   NAMESPACE        namespace to watch (default: the overlay's `namespace:`, else chemagent-ENV)
#   ROLLOUT_TIMEOUT  how long `kubectl rollout status` waits (default 300s: a prod rollout of
#                    3 pods one at a time, each with a startup probe, takes about a minute)
#   OVERLAYS_DIR     where the overlays live (default kubernetes/overlays; tests use a copy)
#
# --dry-run only renders, on the client (no cluster needed): the manifests go to stdout and
# the kubectl commands that would follow are printed to stderr.
# Under GitHub Actions the revision found before the apply is written to $GITHUB_OUTPUT as
# previous_revision, so a failed deploy rolls back to exactly it (TO_REVISION of rollback.sh).
# Exit codes: 0 done, 1 a step failed (render, apply or rollout), 2 bad arguments.
set -euo pipefail

# shellcheck source=scripts/lib/env_args.sh
source "$(dirname "$0")/lib/env_args.sh"
say() { echo "deploy: $*" >&2; }
parse_env_args deploy "$@"

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
overlays_dir="${OVERLAYS_DIR:-$repo_root/kubernetes/overlays}"
overlay="$overlays_dir/$env_name"
deployment="chemagent"
timeout="${ROLLOUT_TIMEOUT:-300s}"
image="${IMAGE:-}"

if [ ! -f "$overlay/kustomization.yaml" ]; then
    say "no overlay at $overlay (expected a kustomization.yaml)"
    exit 1
fi
# The image goes into a YAML patch: accept only the characters of an image reference.
if [ -n "$image" ] && ! [[ "$image" =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]]; then
    echo "deploy: IMAGE '$image' is not an image reference" >&2
    exit 2
fi
namespace="$(overlay_namespace "$overlay")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rendered="$work/rendered.yaml"

if [ -z "$image" ]; then
    say "rendering $overlay (image as the overlay names it)"
    kubectl kustomize "$overlay" >"$rendered"
else
    # A wrapper kustomization on top of the overlay swaps the image of the first container of
    # the Deployment, after checking that this container is ChemAgent's (the `test` op fails
    # the render otherwise). kustomize refuses absolute paths, hence the relative one.
    say "rendering $overlay with image $image"
    mkdir "$work/pin"
    cat >"$work/pin/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$work/pin" "$overlay")
patches:
  - target: {group: apps, kind: Deployment, name: $deployment}
    patch: |-
      - op: test
        path: /spec/template/spec/containers/0/name
        value: $deployment
      - op: replace
        path: /spec/template/spec/containers/0/image
        value: "$image"
EOF
    kubectl kustomize "$work/pin" >"$rendered"
    # A target that matched nothing would leave the old image silently: check the result.
    if ! awk -v want="$image" '($1 == "image:" && $2 == want) || ($2 == "image:" && $3 == want) \
        {found = 1} END {exit !found}' "$rendered"; then
        say "the rendered manifests do not run $image (no Deployment '$deployment'?)"
        exit 1
    fi
fi
say "rendered $(grep -c '^kind:' "$rendered") objects for namespace $namespace"

apply=(kubectl apply -f -)
rollout=(kubectl rollout status "deployment/$deployment" -n "$namespace" "--timeout=$timeout")
if [ "$dry_run" -eq 1 ]; then
    cat "$rendered"
    say "dry run: would run: ${apply[*]} < (the manifests above)"
    say "dry run: would run: ${rollout[*]}"
    exit 0
fi

# The revision running now is where a rollback of this deploy must go: a plain `rollout undo`
# after an apply that failed before touching the Deployment would go one release too far.
revision_path='{.metadata.annotations.deployment\.kubernetes\.io/revision}'
previous="$(kubectl get "deployment/$deployment" -n "$namespace" --ignore-not-found \
    -o "jsonpath=$revision_path")"
say "revision before this deploy: ${previous:-none (first deploy)}"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "previous_revision=$previous" >>"$GITHUB_OUTPUT" # for cd.yml's rollback step
fi

say "applying to namespace $namespace"
"${apply[@]}" <"$rendered"
say "waiting up to $timeout for deployment/$deployment"
if ! "${rollout[@]}"; then
    say "rollout of deployment/$deployment did not finish; roll back with:" \
        "TO_REVISION=${previous:-?} scripts/rollback.sh $env_name"
    exit 1
fi
say "deployed $env_name${image:+ ($image)}"
