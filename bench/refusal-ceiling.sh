#!/bin/sh
# What a refusal's response costs by itself, apart from the shield's
# decision (issue 12's refusal figure). Three sites of one Caddy (rempart
# built from the work tree), measured with wrk interleaved, ROUNDS times:
#
#   bare   respond 429: no body, no header but Caddy's Server
#   page   the shield's own 429 (its header fields and its page, copied
#          from the shield's answer at start) sent by a bare respond: the
#          response without any decision
#   shield the shield refusing a network over its challenge budget
#
# Each round's ratios are page/bare, shield/bare and shield/page; the
# figures are their medians. page/bare is the most any shield sending this
# response can reach against a bare respond 429; shield/page is what the
# decision (identity, policy, budgets, watching) costs. Run it with
# nothing else running.
#
#   ./bench/refusal-ceiling.sh      # about 3 minutes, ports 9662-9664 and 3014
set -eu
. "$(dirname "$0")/lib.sh"
DUR=${DUR:-10s}
ROUNDS=${ROUNDS:-5}
work=$(mktemp -d)
trap 'kill $(cat "$work"/pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/rempart" ./cmd/rempart
shield_site() {
	cat <<CADDY
http://127.0.0.1:9662 {
	rempart {
		secret refusal-ceiling-secret-0123456789
		protect POST /sign
		limit challenges per ip 1/hour
	}
	respond "petition"
}
http://127.0.0.1:9663 {
	respond 429
}
CADDY
}
start() {
	"$work/rempart" run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
	echo $! >"$work/pid"
	for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:9663/ && return; sleep 0.2; done
	echo "Caddy did not start:" >&2; cat "$work/caddy.log" >&2; exit 1
}
stop() { kill "$(cat "$work/pid")"; wait "$(cat "$work/pid")" 2>/dev/null || true; }
global='{
	admin localhost:3014
	auto_https off
	persist_config off
}'

# First run: the shield alone, to copy its 429 (the first request spends
# the address's one challenge, the second is refused).
{ echo "$global"; shield_site; } >"$work/Caddyfile"
start
curl -s -o /dev/null http://127.0.0.1:9662/
curl -s -D "$work/headers" -o "$work/body" http://127.0.0.1:9662/
stop
grep -q '^HTTP/1.1 429' "$work/headers" || { echo "the shield did not refuse:" >&2; cat "$work/headers" >&2; exit 1; }
grep -q 'HTML$' "$work/body" && { echo "the page has a line HTML, which ends the heredoc below" >&2; exit 1; }

# Then all three sites, the page's copy with the shield's header fields
# (but those net/http or Caddy write themselves).
{
	echo "$global"
	shield_site
	echo "http://127.0.0.1:9664 {"
	tr -d '\r' <"$work/headers" | sed 1d | grep -v -i -E '^(date|server|content-length):|^$' |
		sed -E 's/^([^:]+): (.*)$/\theader \1 "\2"/'
	echo "	respond <<HTML"
	cat "$work/body"
	echo ""
	echo "HTML 429"
	echo "}"
} >"$work/Caddyfile"
start
curl -s -o /dev/null http://127.0.0.1:9662/
for port in 9662 9664; do
	code=$(curl -s -o "$work/body.$port" -w '%{http_code}' http://127.0.0.1:$port/)
	[ "$code" = 429 ] || { echo "port $port answers $code, not 429" >&2; exit 1; }
	cmp -s "$work/body" "$work/body.$port" || { echo "port $port sends another page than the shield's first 429" >&2; exit 1; }
done
echo "the shield's 429: $(wc -c <"$work/body") bytes, header fields:"
tr -d '\r' <"$work/headers" | sed 1d | grep -v '^$' | sed 's/^/  /'

for _ in $(seq "$ROUNDS"); do
	printf 'bare %s\npage %s\nshield %s\n' "$(rps http://127.0.0.1:9663/)" "$(rps http://127.0.0.1:9664/)" "$(rps http://127.0.0.1:9662/)"
done | tee "$work/out"
stop
awk "$median_awk"'
{ n[$1]++; v[$1, n[$1]] = $2 } END {
	split("page/bare shield/bare shield/page", pairs, " ")
	for (p = 1; p <= 3; p++) {
		split(pairs[p], ab, "/"); m = n[ab[1]]; line = ""
		for (i = 1; i <= m; i++) { r[i] = v[ab[1], i] / v[ab[2], i]; line = line sprintf(" %.3f", r[i]) }
		printf "%s: rounds%s; median %.3f\n", pairs[p], line, median(r, m)
	}
}' "$work/out"
