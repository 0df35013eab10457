#!/bin/sh
# Refusals (429) served by several builds of rempart side by side, each in
# its own Caddy process, against a bare `respond 429` served by the first:
# for measuring what a change to the refusal path is worth (BENCHMARKS.md,
# "What in the 429 costs what"). Each build refuses a client over its
# challenge budget as in bench/refusal-ceiling.sh; wrk runs interleaved,
# bare then each build, ROUNDS times; the figures are the medians of each
# build's per-round ratios to the bare respond 429. Run it with nothing
# else running.
#
#   go build -o /tmp/a ./cmd/rempart            # one build per variant
#   ./bench/refusal-builds.sh /tmp/a /tmp/b     # ports 9665-9669 and 3015-3019
set -eu
. "$(dirname "$0")/lib.sh"
DUR=${DUR:-10s}
ROUNDS=${ROUNDS:-5}
[ $# -ge 1 ] && [ $# -le 5 ] || { echo "usage: $0 <rempart binary>... (1 to 5)" >&2; exit 2; }
work=$(mktemp -d)
trap 'for p in $(cat "$work"/pid.* 2>/dev/null); do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
i=0
for bin in "$@"; do
	port=$((9665 + i))
	{
		printf '{\n\tadmin localhost:%d\n\tauto_https off\n\tpersist_config off\n}\n' $((3015 + i))
		cat <<CADDY
http://127.0.0.1:$port {
	rempart {
		secret refusal-builds-secret-0123456789
		protect POST /sign
		limit challenges per ip 1/hour
	}
	respond "petition"
}
CADDY
		if [ $i -eq 0 ]; then printf 'http://127.0.0.1:9664 {\n\trespond 429\n}\n'; fi
	} >"$work/Caddyfile.$i"
	"$bin" run --config "$work/Caddyfile.$i" --adapter caddyfile >"$work/caddy.$i.log" 2>&1 &
	echo $! >"$work/pid.$i"
	i=$((i + 1))
done
i=0
for bin in "$@"; do
	port=$((9665 + i))
	for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")
	[ "$code" = 429 ] || { echo "$bin on port $port answers $code, not 429:" >&2; cat "$work/caddy.$i.log" >&2; exit 1; }
	echo "build $i: $bin"
	i=$((i + 1))
done
# run NAME URL PID prints NAME, wrk's requests per second and the CPU time
# the serving process spent per request, in microseconds: a steadier
# instrument than throughput on a machine wrk shares.
run() {
	before=$(cpu_ticks "$3")
	out=$(wrk -t1 -c32 -d"$DUR" "$2")
	after=$(cpu_ticks "$3")
	printf '%s %s\n' "$1" "$(printf '%s\n' "$out" | awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" '
		/requests in/ { n = $1 } /Requests\/sec/ { r = $2 } END { printf "%s %.2f", r, t / hz / n * 1e6 }')"
}
for _ in $(seq "$ROUNDS"); do
	run bare http://127.0.0.1:9664/ "$(cat "$work/pid.0")"
	i=0
	for _ in "$@"; do
		run "build$i" "http://127.0.0.1:$((9665 + i))/" "$(cat "$work/pid.$i")"
		i=$((i + 1))
	done
done | tee "$work/out"
awk "$median_awk"'
{ n[$1]++; v[$1, n[$1]] = $2; c[$1, n[$1]] = $3 } END {
	m = n["bare"]
	for (i = 1; i <= m; i++) cb[i] = c["bare", i]
	printf "bare respond 429: CPU per request %.1f us (median)\n", median(cb, m)
	for (b = 0; ("build" b) in n; b++) {
		m = n["build" b]; line = ""
		for (i = 1; i <= m; i++) { r[i] = v["build" b, i] / v["bare", i]; cr[i] = c["build" b, i] / c["bare", i]; line = line sprintf(" %.3f", r[i]) }
		printf "build %d / bare respond 429: rounds%s; median %.3f; CPU per request x%.3f (median)\n", b, line, median(r, m), median(cr, m)
	}
}' "$work/out"
