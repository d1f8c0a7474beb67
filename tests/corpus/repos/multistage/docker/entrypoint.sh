#!/bin/sh
# The image's entrypoint: defaults for the environment, then the command (gunicorn by default).
set -eu

: "${SHOP_CURRENCY:=EUR}"
: "${SHOP_VAT_PERCENT:=20}"
export SHOP_CURRENCY SHOP_VAT_PERCENT

echo "shop: currency ${SHOP_CURRENCY}, VAT ${SHOP_VAT_PERCENT}%"
exec "$@"
