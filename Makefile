# Replay the petition flood against the real shield, play the attacker's
# moves of issue 9, and measure it (cmd/rempart-flood): a report (with a
# table of the moves, tried / accepted / expected), a chart and the load
# figures in flood-report/ (flood-report-short/ for the short run). The
# load figures need wrk, the browser signers Chromium: both are installed
# from Debian's packages when missing.

GO ?= go

.PHONY: flood flood-short flood-redis flood-redis-short bench-load bench-load-redis bench-store deps solver solver-bench solver-deps

# The full replay: 60 s of attack, the attacker's moves of issue 9, then
# wrk's figures and a million distinct clients (about five minutes in all).
flood: deps
	$(GO) run ./cmd/rempart-flood -out flood-report

# A few seconds of each part.
flood-short: deps
	$(GO) run ./cmd/rempart-flood -short -out flood-report-short

# The same against three instances sharing one redis-server (started by the
# run on port 9506), behind a round-robin load balancer (ports 9507-9509):
# the report's invariants must hold as on one instance.
flood-redis: deps
	./scripts/install-deps.sh redis-server
	$(GO) run ./cmd/rempart-flood -store redis -instances 3 -out flood-report-redis

flood-redis-short: deps
	./scripts/install-deps.sh redis-server
	$(GO) run ./cmd/rempart-flood -short -store redis -instances 3 -out flood-report-redis-short

# The load figures of issue 12 alone, no scenario: the shield against bare
# Caddy in the same process (a bare reverse_proxy for pass-through, a bare
# respond 429 for refusals and challenge pages), wrk -t1 -c32, 5 rounds of
# 10 s interleaved shield / bare, the median of the rounds' ratios; then a
# million distinct clients' peak memory (about 7 minutes). Report in
# bench-report/report.md. FLOOD_FLAGS adds flags, e.g. -port-base 9700.
bench-load:
	./scripts/install-deps.sh wrk
	$(GO) run ./cmd/rempart-flood -load-only -wrk-rounds 5 -wrk-duration 10s \
		-wrk-threads 1 -wrk-connections 32 -out bench-report $(FLOOD_FLAGS)

# The same load figures with the shield's state in Redis (a redis-server the
# run starts on port-base+6), then in memory, back to back in one make run:
# compare the two reports' shield/bare ratios (BENCHMARKS.md, "Shared
# state"). No memory run: Redis memory per client is bench-store's.
bench-load-redis:
	./scripts/install-deps.sh wrk redis-server
	$(GO) run ./cmd/rempart-flood -load-only -store redis -million 0 -wrk-rounds 5 -wrk-duration 10s \
		-wrk-threads 1 -wrk-connections 32 -out bench-report-redis $(FLOOD_FLAGS)
	$(GO) run ./cmd/rempart-flood -load-only -store memory -million 0 -wrk-rounds 5 -wrk-duration 10s \
		-wrk-threads 1 -wrk-connections 32 -out bench-report-memory $(FLOOD_FLAGS)

deps:
	./scripts/install-deps.sh wrk chromium

# The browser solvers, rebuilt from their source (the Go tests check that
# the committed files are what these commands make).
solver: solver-deps
	wat2wasm scripts/solver/sha256x4.wat -o challenge/assets/sha256x4.wasm
	node scripts/solver/gen_worker.js > challenge/assets/worker.js

# Both solvers measured in one headless Chromium run: hash rates (SIMD,
# JavaScript, WebCrypto baseline), the real page at 18-24 bits with each,
# and the page weight (BENCHMARKS.md, "Browser solver").
solver-bench: solver-deps
	$(GO) test ./challenge/ -run TestChallengePageWeight -v
	$(GO) test ./e2e/ -run '^$$' -bench BrowserSolver -benchtime 1x -v

solver-deps:
	./scripts/install-deps.sh chromium node=nodejs wat2wasm=wabt

# Store benchmarks: memory against Redis (starts redis-server on 6413-6414).
bench-store:
	$(GO) test -run '^$$' -bench 'Stores|MemoryPerClient' -benchmem -benchtime 20000x ./store/redisstore/
