# redis:7-stacktest: a stand-in for the official redis:7 image, from Debian bookworm's redis-server
# (in the local base image): `redis-server` with protected mode off (the official image builds it so),
# reachable from the other containers, data in /data, redis-cli on PATH.
FROM stacktest-base:bookworm
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN mkdir -p /data && chmod 755 /usr/local/bin/docker-entrypoint.sh
VOLUME /data
WORKDIR /data
ENTRYPOINT ["docker-entrypoint.sh"]
EXPOSE 6379
CMD ["redis-server"]
