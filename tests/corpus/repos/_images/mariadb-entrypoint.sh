#!/bin/sh
# The official mariadb image's entrypoint, in short: as root, make the data folder mysql's and run again
# as that user; on the first start create the system tables, the root password for every host, the
# database and the user from the environment; then exec mariadbd on every address (no shell left).
set -e
if [ "$1" = mariadbd ] && [ "$(id -u)" = 0 ]; then
    mkdir -p /var/lib/mysql /run/mysqld
    chown -R mysql:mysql /var/lib/mysql /run/mysqld
    exec gosu mysql "$0" "$@"
fi

if [ "$1" = mariadbd ] && [ ! -d /var/lib/mysql/mysql ]; then
    root="${MARIADB_ROOT_PASSWORD:-$MYSQL_ROOT_PASSWORD}"
    db="${MARIADB_DATABASE:-$MYSQL_DATABASE}"
    user="${MARIADB_USER:-$MYSQL_USER}"
    pass="${MARIADB_PASSWORD:-$MYSQL_PASSWORD}"
    if [ -z "$root" ]; then
        echo "Error: Database is uninitialized and MARIADB_ROOT_PASSWORD is not set." >&2
        exit 1
    fi
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db \
        --auth-root-authentication-method=normal > /dev/null
    mariadbd --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    i=0
    until mariadb --socket=/run/mysqld/init.sock -uroot -e 'SELECT 1' > /dev/null 2>&1; do
        i=$((i + 1)); [ "$i" -lt 120 ] || { echo "mariadbd did not start" >&2; exit 1; }
        sleep 0.25
    done
    {
        echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$root';"
        echo "CREATE USER 'root'@'%' IDENTIFIED BY '$root';"
        echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
        if [ -n "$db" ]; then echo "CREATE DATABASE IF NOT EXISTS \`$db\`;"; fi
        if [ -n "$user" ]; then
            echo "CREATE USER '$user'@'%' IDENTIFIED BY '$pass';"
            if [ -n "$db" ]; then echo "GRANT ALL ON \`$db\`.* TO '$user'@'%';"; fi
        fi
        echo "FLUSH PRIVILEGES;"
    } | mariadb --socket=/run/mysqld/init.sock -uroot
    kill "$pid"
    wait "$pid" || true
    echo "MariaDB init process done. Ready for start up."
fi

if [ "$1" = mariadbd ]; then
    shift
    exec mariadbd --bind-address=0.0.0.0 --port=3306 "$@"
fi
exec "$@"
