# Stand-in for the official nginx:<version>-bookworm image, which this machine cannot pull
# (no registry is reachable). test/helpers/standins.ts builds it and tags it with the
# official name that docker/docker-compose.yml uses.
#
# What the compose file relies on, and this image does as the official one does:
#   - templates in /etc/nginx/templates/*.template rendered by envsubst into
#     /etc/nginx/conf.d/ at start, substituting only the variables whose names match
#     NGINX_ENVSUBST_FILTER (standin-entrypoint.sh);
#   - CMD nginx -g 'daemon off;', STOPSIGNAL SIGQUIT, EXPOSE 80;
#   - access and error logs go to the container's stdout and stderr;
#   - user and group `nginx`, uid and gid 101; /var/cache/nginx exists;
#   - curl and envsubst (gettext-base) are installed;
#   - njs is at /usr/lib/nginx/modules/ngx_http_js_module.so, not loaded until a
#     load_module names it (nginx-module-njs there, libnginx-mod-http-js here).
# How it differs:
#   - nginx is Debian bookworm's package (1.22.1 with Debian's built-in modules), not
#     nginx.org's build of the tagged version: the shipped config must, and does, work
#     on both (the native tests run Debian's nginx too);
#   - the entrypoint implements only the template step; the official image's other
#     /docker-entrypoint.d scripts (IPv6 listen, worker tuning, local resolvers) are
#     absent, and none of them changes this deployment's config;
#   - the base is debootstrap's minbase rather than debian:bookworm-slim;
#   - the stream module (nginx/stream.conf, the several-replica deployment) is a package
#     of its own in Debian, loaded by the command; the official image has it built in.
ARG BASE
FROM ${BASE}
# Debian's postinst would try to start nginx inside the build: policy-rc.d forbids it.
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
 && groupadd --system --gid 101 nginx \
 && useradd --system --gid nginx --uid 101 --no-create-home --home-dir /nonexistent --shell /bin/false nginx \
 && apt-get update \
 && apt-get install -y --no-install-recommends nginx libnginx-mod-stream libnginx-mod-http-js gettext-base curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d /etc/nginx/sites-enabled /etc/nginx/sites-available \
 && mkdir -p /var/cache/nginx /etc/nginx/conf.d /docker-entrypoint.d \
 && ln -sf /dev/stdout /var/log/nginx/access.log \
 && ln -sf /dev/stderr /var/log/nginx/error.log
COPY standin-entrypoint.sh /docker-entrypoint.sh
RUN chmod 755 /docker-entrypoint.sh
ENTRYPOINT ["/docker-entrypoint.sh"]
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "load_module /usr/lib/nginx/modules/ngx_stream_module.so; daemon off;"]
