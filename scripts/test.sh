#!/usr/bin/env bash
# test.sh runs the whole suite the way CI does: it starts the local AWS servers (unless they are
# already running, in which case it leaves them running), requires them (a test that needs a
# server fails instead of skipping), runs go vet and the race-enabled tests, and stops the
# servers it started. It exits with go test's status, or earlier with go vet's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

started=0
# shellcheck disable=SC2317 # called through the EXIT trap
stop_servers() {
	local rc=$?
	if ((started)); then
		bash scripts/localaws.sh stop || true
	fi
	exit "$rc"
}
trap stop_servers EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if bash scripts/localaws.sh status >/dev/null 2>&1; then
	echo "test.sh: using the local AWS servers that are already running" >&2
else
	started=1
	bash scripts/localaws.sh start >/dev/null
fi
# shellcheck source=/dev/null
source .localaws/env
export SLUICE_REQUIRE_LOCAL_AWS=1

echo "test.sh: go vet ./..." >&2
go vet ./...

echo "test.sh: go test -race -count=1 -timeout 10m ./..." >&2
status=0
go test -race -count=1 -timeout 10m ./... || status=$?

# The benchmarks are not timed here (bench/*.md hold measured results); one iteration of each
# checks that they still run.
echo "test.sh: go test -run '^\$' -bench . -benchtime 1x ./bench/... (smoke run)" >&2
go test -run '^$' -bench . -benchtime 1x ./bench/... || status=$?
echo "test.sh: go run ./bench/cmd/sluicebench -quick (smoke run of the end-to-end harness)" >&2
go run ./bench/cmd/sluicebench -quick -o /dev/null >/dev/null || status=$?
exit "$status"
