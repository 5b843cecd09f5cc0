# Stand-in for the official postgres:15-bookworm image, which this machine cannot pull.
# test/docker/standins.ts builds it and tags it with the official name that
# docker/docker-compose.ha.yml uses.
#
# What the compose file relies on, and this image does as the official one does:
#   - an empty data directory (PGDATA, /var/lib/postgresql/data, a volume) is initialised
#     at first start with POSTGRES_USER as superuser, its password from POSTGRES_PASSWORD
#     or POSTGRES_PASSWORD_FILE, and the database POSTGRES_DB; then postgres runs as user
#     postgres (uid 999), listening on every address, password (scram-sha-256) required
#     from the network;
#   - pg_isready and psql on the PATH; STOPSIGNAL SIGINT; EXPOSE 5432.
# How it differs:
#   - PostgreSQL is Debian bookworm's postgresql-15, not the PGDG build;
#   - the entrypoint implements only the above: no /docker-entrypoint-initdb.d scripts,
#     no POSTGRES_INITDB_ARGS, no POSTGRES_HOST_AUTH_METHOD;
#   - the base is debootstrap's minbase rather than debian:bookworm-slim.
ARG BASE
FROM ${BASE}
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
 && groupadd --system --gid 999 postgres \
 && useradd --system --gid postgres --uid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres \
 && mkdir -p /etc/postgresql-common \
 && printf 'create_main_cluster = false\n' > /etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["docker-entrypoint.sh"]
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
CMD ["postgres"]
