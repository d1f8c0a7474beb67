#!/bin/sh
# Build the shop wheel into $1 (default: dist/). Used by the image's builder stage and by the release job.
set -eu
out="${1:-dist}"
mkdir -p "$out"
python -m pip wheel --no-deps --no-build-isolation --wheel-dir "$out" .
ls -l "$out"
