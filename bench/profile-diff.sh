#!/bin/sh
# Compares two CPU profiles of one process per request: what a request to
# the shield costs beyond one to bare Caddy, function by function (the
# cumulative time of each, in microseconds a request). make bench-load
# FLOOD_FLAGS=-profile writes the profiles and the requests of their runs
# (bench-report/report.md), e.g.:
#
#   ./bench/profile-diff.sh bench-report/refusal.pprof 250000 bench-report/refusal-bare.pprof 290000
#
# N (default 40) limits the lines, largest differences first.
set -eu
[ $# -eq 4 ] || { echo "usage: $0 <profile> <requests> <base profile> <requests>" >&2; exit 2; }
N=${N:-40}
# cum prints "function<TAB>cumulative seconds" for every node of a profile.
cum() { go tool pprof -top -cum -nodecount=100000 -nodefraction=0 "$1" 2>/dev/null | awk '
	function secs(v) {
		if (v ~ /ms$/) return substr(v, 1, length(v) - 2) / 1000
		if (v ~ /us$|µs$/) return substr(v, 1, length(v) - 2) / 1e6
		if (v ~ /s$/) return substr(v, 1, length(v) - 1)
		return v
	}
	started && NF >= 6 { name = $6; for (i = 7; i <= NF; i++) name = name " " $i; printf "%s\t%s\n", name, secs($4) }
	/flat%/ { started = 1 }'; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cum "$1" >"$work/a"
cum "$3" >"$work/b"
awk -F '\t' -v na="$2" -v nb="$4" '
	FNR == NR { a[$1] = $2 * 1e6 / na; next }
	{ b[$1] = $2 * 1e6 / nb }
	END {
		for (k in a) d[k] = a[k] - b[k]
		for (k in b) if (!(k in a)) d[k] = -b[k]
		for (k in d) printf "%+8.2f\t%8.2f\t%8.2f\t%s\n", d[k], a[k], b[k], k
	}' "$work/a" "$work/b" | sort -t "$(printf '\t')" -k1,1 -g -r >"$work/d"
printf '%8s\t%8s\t%8s\t%s\n' "diff" "profile" "base" "µs of CPU a request, cumulative, by function"
head -n "$N" "$work/d"
echo "..."
tail -n 5 "$work/d"
