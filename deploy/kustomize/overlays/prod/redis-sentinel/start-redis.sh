#!/bin/sh
# Pod 0 starts as master; the others replicate whichever master the
# sentinels know (pod 0 on first start).
set -eu
MASTER="redis-0.redis-headless.github-stats.svc.cluster.local"
KNOWN=$(redis-cli -h redis-sentinel -p 26379 sentinel get-master-addr-by-name mymaster 2>/dev/null | head -n1 || true)
[ -n "$KNOWN" ] && MASTER="$KNOWN"
ME="$(hostname).redis-headless.github-stats.svc.cluster.local"
if [ "$ME" = "$MASTER" ] || { [ -z "$KNOWN" ] && [ "$(hostname)" = "redis-0" ]; }; then
  exec redis-server --appendonly yes --maxmemory-policy noeviction --replica-announce-ip "$ME"
fi
exec redis-server --appendonly yes --maxmemory-policy noeviction --replica-announce-ip "$ME" --replicaof "$MASTER" 6379
