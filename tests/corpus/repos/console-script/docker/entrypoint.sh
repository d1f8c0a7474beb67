#!/bin/sh
set -e
echo "notes: starting $*"
exec "$@"
