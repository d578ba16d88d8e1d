#!/bin/sh
# Writes services/<svc>/Dockerfile from deploy/service.Dockerfile (SERVICE and PORT defaulted),
# so each service builds alone with `docker build -f services/<svc>/Dockerfile .`.
# --check: write nothing, exit 1 if any of them differs from what would be written.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
check=0
[ "${1:-}" = "--check" ] && check=1
status=0
for pair in booking:8001 content:8002 cabinet:8003 notify:8004; do
    svc=${pair%%:*}
    port=${pair#*:}
    out="$root/services/$svc/Dockerfile"
    tmp=$(mktemp)
    # Keep the "# syntax=" parser directive on line 1; default only the first (global) ARGs.
    awk -v svc="$svc" -v port="$port" '
        NR == 1 { print; print "# GENERATED from deploy/service.Dockerfile by deploy/sync-dockerfiles.sh: edit that file."; next }
        /^ARG SERVICE$/ && !s { print "ARG SERVICE=" svc; s = 1; next }
        /^ARG PORT$/ && !p { print "ARG PORT=" port; p = 1; next }
        { print }
    ' "$root/deploy/service.Dockerfile" >"$tmp"
    if [ "$check" = 1 ]; then
        if ! cmp -s "$tmp" "$out"; then
            echo "out of date: services/$svc/Dockerfile (run deploy/sync-dockerfiles.sh)" >&2
            status=1
        fi
        rm -f "$tmp"
    else
        mv "$tmp" "$out"
        chmod 0644 "$out"
    fi
done
exit $status
