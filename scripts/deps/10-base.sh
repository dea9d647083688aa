#!/usr/bin/env bash
# Foundation tests: wrk for the API benchmark, python venv for the OpenAPI validator.
source "$(dirname "$0")/../lib/deps.sh"
need_apt_pkg python3-venv
need_pip openapi-spec-validator openapi-spec-validator
