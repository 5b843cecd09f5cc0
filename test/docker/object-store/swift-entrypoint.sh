#!/bin/sh
# Configures a one-node Swift with s3api (as test/helpers/swift.ts does on the host) and
# runs it: the three storage servers and memcached in the background, the proxy in the
# foreground on 0.0.0.0:8080. Its objects live in the container (/srv/node), as long as it.
set -eu
etc=/etc/swift
mkdir -p "$etc" /srv/node/d1 /var/cache/swift /run/swift
chown -R swift:swift /srv/node /var/cache/swift /run/swift
printf '[swift-hash]\nswift_hash_path_suffix = artifact-repo-test\nswift_hash_path_prefix = artifact-repo-test\n[storage-policy:0]\nname = gold\ndefault = yes\n' > "$etc/swift.conf"
common() {
  # Logs to stderr would need a handler Swift has not; a syslog address that does not exist leaves them unwritten.
  printf '[DEFAULT]\nbind_ip = %s\nbind_port = %s\nswift_dir = %s\nworkers = 0\nuser = swift\nlog_address = /run/swift/no-syslog\n' "$1" "$2" "$etc"
}
port=6200
for server in account container object; do
  if [ ! -f "$etc/$server.ring.gz" ]; then
    swift-ring-builder "$etc/$server.builder" create 4 1 1 >/dev/null
    swift-ring-builder "$etc/$server.builder" add "r1z1-127.0.0.1:$port/d1" 1 >/dev/null
    swift-ring-builder "$etc/$server.builder" rebalance >/dev/null
  fi
  { common 127.0.0.1 "$port"; printf 'devices = /srv/node\nmount_check = false\n[pipeline:main]\npipeline = %s-server\n[app:%s-server]\nuse = egg:swift#%s\n' "$server" "$server" "$server"; } > "$etc/$server-server.conf"
  port=$((port + 1))
done
{
  common 0.0.0.0 8080
  printf '[pipeline:main]\npipeline = catch_errors gatekeeper healthcheck proxy_logging cache listing_formats s3api tempauth copy slo dlo proxy_logging proxy-server\n'
  printf '[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n'
  printf '[filter:tempauth]\nuse = egg:swift#tempauth\nuser_test_tester = testing .admin\n'
  printf '[filter:cache]\nuse = egg:swift#memcache\nmemcache_servers = 127.0.0.1:11211\n'
  for filter in catch_errors gatekeeper healthcheck proxy_logging listing_formats s3api copy slo dlo; do
    printf '[filter:%s]\nuse = egg:swift#%s\n' "$filter" "$filter"
  done
} > "$etc/proxy-server.conf"
memcached -l 127.0.0.1 -p 11211 -U 0 -u memcache &
for server in account container object; do
  "swift-$server-server" "$etc/$server-server.conf" &
done
exec swift-proxy-server "$etc/proxy-server.conf"
