#!/bin/sh
# The cost of watching the shield (issue 11: metrics, top networks, interval
# log, placeholders): wrk against the same Caddyfile served by rempart built
# without it (BASE, default: main just before it was merged) and with it (the
# work tree), interleaved without, with, without, with. Pass-through (a
# valid pass, GET / -> 200) and challenge pages (no pass, a new /24 each
# request -> 403). Compare the ratios; on a busy machine, only roughly.
#
#   ./bench/observe-cost.sh            # about 3 minutes, ports 9660-9661 and 3012
set -eu
# a21f22c^1 is main just before the observability work was merged.
BASE=${BASE:-a21f22c^1}
DUR=${DUR:-5s}
work=$(mktemp -d)
trap 'kill $(cat "$work"/pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/base"
git archive "$BASE" | tar -x -C "$work/base"
(cd "$work/base" && go build -o "$work/without" ./cmd/rempart)
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
cat > "$work/distinct.lua" <<'LUA'
local n = 0
request = function()
	n = n + 1
	wrk.headers["X-Forwarded-For"] = string.format("10.%d.%d.1", math.floor(n / 256) % 256, n % 256)
	return wrk.format("GET", "/")
end
LUA
rps() { wrk -t2 -c64 -d"$DUR" "$@" | awk '/Requests\/sec/ {print $2}'; }
run() {
	"$work/$1" run --config "$work/Caddyfile" >"$work/$1.log" 2>&1 &
	echo $! >"$work/pid"
	for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:9660/ && break; sleep 0.2; done
	pass=$("$work/getpass" http://127.0.0.1:9660/)
	printf '%s pass-through %s\n' "$1" "$(rps -H "Cookie: $pass" http://127.0.0.1:9660/)"
	printf '%s challenge %s\n' "$1" "$(rps -s "$work/distinct.lua" http://127.0.0.1:9660/)"
	kill "$(cat "$work/pid")"; wait "$(cat "$work/pid")" 2>/dev/null || true
}
echo "base $BASE, with $(git rev-parse --short HEAD) (+ work tree)"
{ run without; run with; run without; run with; } | tee "$work/out"
awk '{ s[$1" "$2] += $3; n[$1" "$2]++ } END {
	for (p in n) if (p ~ /^with /) { split(p, a, " "); w = s[p]/n[p]; o = s["without "a[2]]/n["without "a[2]];
	printf "%s: without %.0f req/s, with %.0f req/s, ratio %.3f\n", a[2], o, w, w/o } }' "$work/out"
