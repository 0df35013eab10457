# Shared by the bench/*.sh scripts; sourced, not run.

# rps runs wrk (1 thread, 32 connections, DUR long) with the given
# arguments and prints its requests per second.
rps() { wrk -t1 -c32 -d"$DUR" "$@" | awk '/Requests\/sec/ {print $2}'; }

# median_awk is an awk function, median(r, m), that sorts r[1..m] in place
# and returns its median: prepend it to a program that pairs each round's
# runs, so that one disturbed round moves nothing.
median_awk='function median(r, m,    i, j, t) {
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
	return (m % 2) ? r[(m + 1) / 2] : (r[m / 2] + r[m / 2 + 1]) / 2
}'

# cpu_ticks prints the user and system CPU time process $1 has used, in
# clock ticks (getconf CLK_TCK a second).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
