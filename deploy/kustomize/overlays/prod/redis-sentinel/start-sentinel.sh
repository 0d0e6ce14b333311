#!/bin/sh
# A sentinel watching the master the others know, or pod 0 at first.
set -eu
MASTER=$(redis-cli -h redis-sentinel -p 26379 sentinel get-master-addr-by-name mymaster 2>/dev/null | head -n1 || true)
[ -n "$MASTER" ] || MASTER="redis-0.redis-headless.github-stats.svc.cluster.local"
ME="$(hostname).redis-headless.github-stats.svc.cluster.local"
cat > /data/sentinel.conf <<CONF
port 26379
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $ME
sentinel monitor mymaster $MASTER 6379 2
sentinel down-after-milliseconds mymaster 5000
sentinel failover-timeout mymaster 30000
sentinel parallel-syncs mymaster 1
CONF
exec redis-sentinel /data/sentinel.conf
