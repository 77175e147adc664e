#!/usr/bin/env bash
# Load figure for `lwm2m-gw device --count N` registering to `lwm2m-gw server` on 127.0.0.1:
# time until every device is registered, and both processes' VmRSS/VmHWM 2 s later.
#
# usage: scripts/device-load.sh [BIN] [COUNT] [extra device flags, e.g. --ramp-us 2000]
set -euo pipefail
BIN=${1:-target/release/lwm2m-gw}
N=${2:-1000}
shift $(( $# > 2 ? 2 : $# ))
D=$(mktemp -d)
trap 'kill $SP $DP 2>/dev/null || true; rm -rf "$D"' EXIT
"$BIN" server --coap 127.0.0.1:0 --coaps off --bs-coap off --bs-coaps off --bs-http off --http 127.0.0.1:0 \
  --data-dir "$D/data" >"$D/srv.out" 2>"$D/srv.err" &
SP=$!
for _ in $(seq 100); do grep -q "http listening" "$D/srv.out" && break; sleep 0.1; done
PORT=$(sed -n 's/^coap listening on 127.0.0.1://p' "$D/srv.out")
HTTP=$(sed -n 's/^http listening on //p' "$D/srv.out")
"$BIN" device --server "coap://127.0.0.1:$PORT" --endpoint load --count "$N" "$@" >"$D/dev.out" 2>"$D/dev.err" &
DP=$!
for _ in $(seq 1200); do grep -q "^all-registered" "$D/dev.out" && break; sleep 0.1; done
grep "^all-registered" "$D/dev.out" || echo "not all registered within 120 s"
sleep 2
echo "server $(grep -h -E 'VmRSS|VmHWM' /proc/$SP/status | tr -s ' \t' ' ' | paste -sd' ')"
echo "device $(grep -h -E 'VmRSS|VmHWM' /proc/$DP/status | tr -s ' \t' ' ' | paste -sd' ')"
echo "registrations listed by the server: $(curl -s "http://$HTTP/api/clients" | grep -o '"endpoint"' | wc -l)"
kill -TERM $DP; wait $DP || true
tail -1 "$D/dev.out"
kill -TERM $SP; wait $SP || true
