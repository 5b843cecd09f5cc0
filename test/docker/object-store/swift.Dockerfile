# The object store of the S3-mode deployment test (test/docker/s3.test.ts): OpenStack Swift
# with its S3 API (s3api) from Debian's packages, as test/helpers/swift.ts runs it natively,
# but in a container on the compose network, so that the replicas and nginx reach it by
# its service name as they would reach a user's S3 server. Not a stand-in for any
# official image: docker/docker-compose.s3.yml leaves the object store to its user.
# One account, container and object server and a proxy with tempauth, memcached for
# tempauth; the S3 endpoint is http://HOST:8080, credentials test:tester / testing.
ARG BASE
FROM ${BASE}
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
 && apt-get update \
 && apt-get install -y --no-install-recommends swift swift-proxy swift-account swift-container swift-object memcached \
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d
COPY swift-entrypoint.sh /usr/local/bin/swift-entrypoint.sh
RUN chmod 755 /usr/local/bin/swift-entrypoint.sh
EXPOSE 8080
HEALTHCHECK --interval=2s --timeout=3s --retries=30 CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthcheck', timeout=2)"]
ENTRYPOINT ["swift-entrypoint.sh"]
