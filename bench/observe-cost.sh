#!/bin/sh
# The cost of watching the shield (issue 11: metrics, top networks, interval
# log, placeholders): wrk against the same Caddyfile served by rempart built
# from the work tree without watching (the rempart_unwatched build tag, see
# caddymodule/watching.go: nothing else differs) and with it, interleaved
# without, with, ROUNDS times. Pass-through (a valid pass, GET / -> 200)
# and challenge pages (no pass, a new /24 each request -> 403). Each
# round's ratio is with / without; the figure is their median. On a busy
# machine, only roughly: run it with nothing else running.
#
#   ./bench/observe-cost.sh                 # about 4 minutes, ports 9660-9661 and 3012
#   BASE=<commit> ./bench/observe-cost.sh   # "without" built from another commit instead
set -eu
. "$(dirname "$0")/lib.sh"
BASE=${BASE:-}
DUR=${DUR:-10s}
ROUNDS=${ROUNDS:-5}
work=$(mktemp -d)
trap 'kill $(cat "$work"/pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
if [ -n "$BASE" ]; then
	mkdir "$work/base"
	git archive "$BASE" | tar -x -C "$work/base"
	(cd "$work/base" && go build -o "$work/without" ./cmd/rempart)
else
	go build -tags rempart_unwatched -o "$work/without" ./cmd/rempart
fi
go build -o "$work/with" ./cmd/rempart
go build -o "$work/getpass" ./bench/getpass
cat > "$work/Caddyfile" <<CADDY
{
	admin localhost:3012
	auto_https off
	servers {
		trusted_proxies static 127.0.0.1/32
		client_ip_headers X-Forwarded-For
	}
}
http://:9661 {
	bind 127.0.0.1
	respond "petition"
}
http://127.0.0.1:9660 {
	rempart {
		secret observe-cost-secret-0123456789
		difficulty 4
		protect POST /sign
	}
	reverse_proxy 127.0.0.1:9661
}
CADDY
run() {
	"$work/$1" run --config "$work/Caddyfile" >"$work/$1.log" 2>&1 &
	echo $! >"$work/pid"
	for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:9660/ && break; sleep 0.2; done
	pass=$("$work/getpass" http://127.0.0.1:9660/)
	printf '%s pass-through %s\n' "$1" "$(rps -H "Cookie: $pass" http://127.0.0.1:9660/)"
	printf '%s challenge %s\n' "$1" "$(rps -s cmd/rempart-flood/lua/distinct-ips.lua http://127.0.0.1:9660/ -- 0 1)"
	kill "$(cat "$work/pid")"; wait "$(cat "$work/pid")" 2>/dev/null || true
}
echo "without: ${BASE:-the work tree built with -tags rempart_unwatched}; with: $(git rev-parse --short HEAD) (+ work tree)"
for _ in $(seq "$ROUNDS"); do run without; run with; done | tee "$work/out"
# Pair each "with" run with the "without" run of its round, then take the
# median of the rounds' ratios, so that one disturbed round moves nothing.
awk "$median_awk"'
{ k = $1" "$2; n[k]++; v[k, n[k]] = $3 } END {
	split("pass-through challenge", paths, " ")
	for (p = 1; p <= 2; p++) {
		path = paths[p]; m = n["with "path]; line = ""
		for (i = 1; i <= m; i++) {
			r[i] = v["with "path, i] / v["without "path, i]; line = line sprintf(" %.3f", r[i])
			sw += v["without "path, i]; sh += v["with "path, i]
		}
		printf "%s: without %.0f req/s, with %.0f req/s (means); rounds%s; median ratio %.3f\n", path, sw / m, sh / m, line, median(r, m)
		sw = 0; sh = 0
	}
}' "$work/out"
