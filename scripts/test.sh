#!/usr/bin/env bash
# Runs rempart's whole test suite on a Debian machine with Go installed:
# installs what the tests need (Chromium, Redis, Node.js and npm for the
# Express petition of e2e/frameworks, wabt's wat2wasm to check that the
# WebAssembly solver is its source's) when it is missing, starts a
# throwaway Redis, then checks formatting, vet, staticcheck and every test,
# including the real-browser and real-Redis ones.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh chromium redis-server node=nodejs npm wat2wasm=wabt

# A Redis of the suite's own, on a spare port, gone when the suite ends.
redis_dir=$(mktemp -d)
redis_port=${REMPART_TEST_REDIS_PORT:-6399}
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$redis_dir" --daemonize yes --pidfile "$redis_dir/redis.pid"
trap 'kill "$(cat "$redis_dir/redis.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$redis_dir"' EXIT
export REMPART_TEST_REDIS=127.0.0.1:$redis_port

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"
	echo "$unformatted"
	exit 1
fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go test -race -count=1 ./...
