#!/bin/sh
# As the official redis image: `redis-server [config file] [options]` runs with protected mode off.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
    shift
    if [ -n "$1" ] && [ "${1#-}" = "$1" ]; then
        conf=$1
        shift
        exec redis-server "$conf" --protected-mode no "$@"
    fi
    exec redis-server --protected-mode no "$@"
fi
exec "$@"
