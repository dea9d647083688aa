#!/usr/bin/env bash
# Packages (issue 16): cargo-deb builds the .deb (packaging/deb/build.sh), dpkg installs it
# into a throwaway root in the test, systemd-analyze verifies the unit, mandoc lints the
# generated man pages. The image test (issue16_docker) uses the engine of 70-containers.sh
# and puts this host's setcap into its base image.
source "$(dirname "$0")/../lib/deps.sh"
need_apt systemd-analyze systemd
need_apt mandoc mandoc
need_apt setcap libcap2-bin
if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "deps: cargo install cargo-deb (for packaging/deb/build.sh)" >&2
  nice -n 19 cargo install cargo-deb --locked --quiet
  command -v cargo-deb >/dev/null 2>&1 || { echo "deps: cargo-deb still missing after cargo install" >&2; exit 1; }
fi
