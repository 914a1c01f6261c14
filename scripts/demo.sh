#!/usr/bin/env bash
# demo.sh runs the demo pipeline end to end on a fresh machine: it starts the local Kinesis server
# (installing it from the committed npm lockfile if needed), creates a stream and fills it with
# lines of text, counts their words with the WordCount query (examples/wordcount: Kinesis ->
# split into words -> GroupBy("word").Count() -> console, output mode update, AvailableNow),
# then puts more lines and runs it again on the same checkpoint: the counts go on from the
# first run's. It stops the servers it started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

started=0
workdir=""
stop_servers() {
	local rc=$?
	if [[ -n "$workdir" ]]; then
		rm -rf "$workdir"
	fi
	if ((started)); then
		bash scripts/localaws.sh stop >/dev/null || true
	fi
	exit "$rc"
}
trap stop_servers EXIT

if ! bash scripts/localaws.sh status >/dev/null 2>&1; then
	started=1
	bash scripts/localaws.sh start >&2 # its progress and the env file it prints are not the demo's output
fi
# shellcheck source=/dev/null
source .localaws/env

stream="sluice-demo-$(date +%s)"
workdir="$(mktemp -d)"
go build -o "$workdir/wordcount" ./examples/wordcount
echo "demo.sh: stream $stream on $SLUICE_KINESIS_ENDPOINT: 200 lines, then WordCount" >&2
"$workdir/wordcount" -endpoint "$SLUICE_KINESIS_ENDPOINT" -stream "$stream" -produce 200 -shards 2 \
	-checkpoint "$workdir/cp"
echo "demo.sh: 50 more lines; WordCount again from its checkpoint (counts continue)" >&2
"$workdir/wordcount" -endpoint "$SLUICE_KINESIS_ENDPOINT" -stream "$stream" -produce 50 \
	-checkpoint "$workdir/cp"
