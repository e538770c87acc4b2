#!/usr/bin/env bash
# Build the stand-in images of `make stack-offline` without any image registry:
#   1. a Debian 12 root filesystem with debootstrap (from the Debian mirror), imported with
#      `docker import` as sandbox-offline/debian:bookworm (an image FROM scratch);
#   2. docker/offline/*/Dockerfile on top of it (Debian's packages of each service).
# Prints how long each step took. Needs root (debootstrap) and a running Docker daemon.
set -euo pipefail
cd "$(dirname "$0")/../.."
rootfs="${OFFLINE_ROOTFS:-.state/offline-rootfs}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
step() { echo "stack-offline: $*" >&2; }
timed() { local start=$SECONDS; "$@"; step "  took $((SECONDS - start)) s"; }

if ! docker image inspect sandbox-offline/debian:bookworm >/dev/null 2>&1; then
    if [ ! -x "$rootfs/bin/bash" ]; then
        command -v debootstrap >/dev/null || {
            step "debootstrap is missing. Fix: sudo apt-get install debootstrap"; exit 1; }
        step "debootstrap bookworm (minbase) into $rootfs ..."
        timed debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror" >/dev/null
    fi
    step "docker import -> sandbox-offline/debian:bookworm ..."
    timed bash -c "tar -C '$rootfs' -c . | docker import - sandbox-offline/debian:bookworm >/dev/null"
fi
for service in postgres prometheus; do
    tag="$(sed -n "s/^    image: \(sandbox-offline\/$service:.*\)$/\1/p" docker/offline/compose.override.yml)"
    step "docker build $tag ..."
    timed docker build --quiet -t "$tag" "docker/offline/$service" >/dev/null
done
