#!/usr/bin/env bash
# demo.sh runs the demo pipeline end to end on a fresh machine: it starts the local Kinesis server
# (installing it from the committed npm lockfile if needed), creates a stream and fills it with
# sample JSON events, reads them with a Sluice query (Trigger.AvailableNow) that prints each
# micro-batch on the console, and stops the servers it started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

started=0
stop_servers() {
	local rc=$?
	if ((started)); then
		bash scripts/localaws.sh stop >/dev/null || true
	fi
	exit "$rc"
}
trap stop_servers EXIT

if ! bash scripts/localaws.sh status >/dev/null 2>&1; then
	started=1
	bash scripts/localaws.sh start
fi
# shellcheck source=/dev/null
source .localaws/env

stream="sluice-demo-$(date +%s)"
echo "demo.sh: stream $stream on $SLUICE_KINESIS_ENDPOINT: producing 200 events, then reading them" >&2
go run ./examples/kinesis-to-console \
	-endpoint "$SLUICE_KINESIS_ENDPOINT" -stream "$stream" -produce 200 -shards 2 \
	-initial-position trim_horizon -available-now
