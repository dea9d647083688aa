#!/usr/bin/env bash
# Containers (issue 15): Debian's Docker engine (dockerd, containerd, runc and the docker
# CLI the harness and benches use), busybox-static (the test image `busybox:local` is a
# `docker import` of it), docker-registry (a local registry for image.pull) and, when it
# installs, podman (the same suite against its Docker-compatible socket).
source "$(dirname "$0")/../lib/deps.sh"
need_apt dockerd docker.io
need_apt_pkg busybox-static
# A local registry, so image.pull is tested against a real one (there is none to reach).
need_apt docker-registry docker-registry
# Compose (v1, Debian's): the Towerops drop-in runs from a compose file of Towerops' shape.
need_apt docker-compose docker-compose
# Podman is optional: the suite says what it needs when it is missing.
if ! command -v podman >/dev/null 2>&1; then
  need_apt_pkg podman || echo "deps: podman did not install; the podman suite will fail loudly" >&2
fi
