#!/usr/bin/env bash
# Set up pyoci (first run only) and run the whole test suite; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
.ci/setup.sh
# The engines the engine tests drive (podman, containerd, docker): not the demo's business.
tests/engines/install.sh
exec .venv/bin/python -m pytest tests "$@"
