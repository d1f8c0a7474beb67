#!/bin/sh
set -e

# only the web container migrates (the worker starts from the same image)
if [ "$1" = "gunicorn" ]; then
    echo "Applying database migrations..."
    python manage.py migrate --noinput
fi

exec "$@"
