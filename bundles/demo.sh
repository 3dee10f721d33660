#!/usr/bin/env bash
# Set up pyoci (first run only) and run the demo container from bundles/busybox.
set -euo pipefail
cd "$(dirname "$0")/.."
.ci/setup.sh
exec .venv/bin/pyoci run --bundle bundles/busybox "pyoci-demo-$$"
