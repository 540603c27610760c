#!/bin/bash
# A 3-member etcd (Debian etcd-server) cluster on loopback ports, for the cluster tests.
#   DIR=/tmp/x PORT=24000 ./etcd-cluster.sh start|stop|kill N|restart N|leader
# Member n serves clients on PORT+n and peers on PORT+10+n; its data and pid live in DIR.
set -euo pipefail
D=${DIR:?DIR must name a directory for the members\' data}
P=${PORT:?PORT must be a free base port}
mkdir -p "$D"
CL="m1=http://127.0.0.1:$((P + 11)),m2=http://127.0.0.1:$((P + 12)),m3=http://127.0.0.1:$((P + 13))"
ENDPOINTS=127.0.0.1:$((P + 1)),127.0.0.1:$((P + 2)),127.0.0.1:$((P + 3))
start_one() {
  local n=$1
  setsid etcd --name m$n --data-dir "$D/m$n.etcd" \
    --listen-client-urls http://127.0.0.1:$((P + n)) --advertise-client-urls http://127.0.0.1:$((P + n)) \
    --listen-peer-urls http://127.0.0.1:$((P + 10 + n)) --initial-advertise-peer-urls http://127.0.0.1:$((P + 10 + n)) \
    --initial-cluster "$CL" --initial-cluster-token "waymond-test-$P" --initial-cluster-state "${STATE:-new}" \
    --heartbeat-interval 50 --election-timeout 500 \
    >>"$D/m$n.log" 2>&1 </dev/null &
  echo $! >"$D/m$n.pid"
}
healthy() {
  for _ in $(seq 1 200); do
    # Bounded per check: an endpoint that accepts and hangs must not eat the caller's timeout.
    ETCDCTL_API=3 etcdctl --dial-timeout=1s --command-timeout=1s --endpoints="$1" endpoint health >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "etcd did not become healthy; logs in $D" >&2
  return 1
}
case ${1:-start} in
  start)
    command -v etcd >/dev/null || { echo 'etcd is not installed (apt-get install etcd-server etcd-client)' >&2; exit 1; }
    for n in 1 2 3; do start_one $n; done
    healthy "$ENDPOINTS";;
  # Killing a member that is already down is a no-op, so a retried test can kill it again.
  kill)    if [ -f "$D/m$2.pid" ]; then kill -9 "$(cat "$D/m$2.pid")" 2>/dev/null || true; fi; rm -f "$D/m$2.pid";;
  restart) STATE=existing start_one "$2"; healthy "127.0.0.1:$((P + $2))";;
  leader)
    ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINTS" endpoint status -w json 2>/dev/null |
      node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8"));const l=s.find(x=>x.Status.leader===x.Status.header.member_id);console.log(l.Endpoint.split(":").pop()-process.env.PORT)';;
  stop)
    for n in 1 2 3; do
      if [ -f "$D/m$n.pid" ]; then kill -9 "$(cat "$D/m$n.pid")" 2>/dev/null || true; rm -f "$D/m$n.pid"; fi
    done
    rm -rf "$D";;
esac
