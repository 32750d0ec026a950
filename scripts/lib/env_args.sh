# Shared by scripts/deploy.sh and scripts/rollback.sh (sourced, not run): their arguments
# ([--dry-run] ENV) and the namespace of an environment's overlay.
#
#   parse_env_args NAME "$@"   sets dry_run (0/1) and env_name (dev|staging|prod); on a bad
#                              argument prints the usage of scripts/NAME.sh and exits 2
#   overlay_namespace DIR      the namespace NAMESPACE or the overlay in DIR names, else
#                              chemagent-<env_name>
# shellcheck shell=bash

# dry_run and env_name are set for the sourcing script, which reads them.
# shellcheck disable=SC2034
parse_env_args() {
    local name="$1" arg
    shift
    dry_run=0
    env_name=""
    for arg in "$@"; do
        case "$arg" in
            --dry-run) dry_run=1 ;;
            -h | --help) env_args_usage "$name" ;;
            dev | staging | prod)
                [ -z "$env_name" ] || env_args_usage "$name"
                env_name="$arg"
                ;;
            *)
                echo "$name: unknown argument '$arg'" >&2
                env_args_usage "$name"
                ;;
        esac
    done
    [ -n "$env_name" ] || env_args_usage "$name"
}

env_args_usage() {
    echo "usage: scripts/$1.sh [--dry-run] ENV   (ENV: dev, staging or prod)" >&2
    exit 2
}

overlay_namespace() {
    local kustomization="$1/kustomization.yaml" named=""
    if [ -f "$kustomization" ]; then
        named="$(awk '/^namespace:/ {print $2; exit}' "$kustomization")"
    fi
    echo "${NAMESPACE:-${named:-chemagent-$env_name}}"
}
