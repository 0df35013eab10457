# Replay the petition flood against the real shield, play the attacker's
# moves of issue 9, and measure it (cmd/rempart-flood): a report (with a
# table of the moves, tried / accepted / expected), a chart and the load
# figures in flood-report/ (flood-report-short/ for the short run). The
# load figures need wrk, the browser signers Chromium: both are installed
# from Debian's packages when missing.

GO ?= go

.PHONY: flood flood-short deps bench-store

# The full replay: 60 s of attack, the attacker's moves of issue 9, then
# wrk's figures and a million distinct clients (about five minutes in all).
flood: deps
	$(GO) run ./cmd/rempart-flood -out flood-report

# A few seconds of each part.
flood-short: deps
	$(GO) run ./cmd/rempart-flood -short -out flood-report-short

deps:
	./scripts/install-deps.sh wrk chromium

# Store benchmarks: memory against Redis (starts redis-server on 6413-6414).
bench-store:
	$(GO) test -run '^$$' -bench 'Stores|MemoryPerClient' -benchmem -benchtime 20000x ./store/redisstore/
