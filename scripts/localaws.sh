#!/usr/bin/env bash
# localaws.sh starts and stops the local AWS servers that sluice's tests and demo use:
#
#   kinesis-local  primary Kinesis (kinesis-mock)     SLUICE_KINESIS_ENDPOINT
#   kinesalite     secondary, fast Kinesis            SLUICE_KINESALITE_ENDPOINT
#   dynalite       DynamoDB                           SLUICE_DYNAMODB_ENDPOINT
#   s3rver         S3 (keys S3RVER/S3RVER, path style) SLUICE_S3_ENDPOINT
#
# Usage:
#   scripts/localaws.sh start    install (npm ci) if needed, start all four, write .localaws/env
#   scripts/localaws.sh stop     stop them (TERM, then KILL after a grace period)
#   scripts/localaws.sh env      print the exports: eval "$(scripts/localaws.sh env)"
#   scripts/localaws.sh status   exit 0 if all four are running and answering
#
# Everything lives in .localaws/ at the repository root: *.pid, *.log, env, s3rver data.
# Both start and stop are idempotent and work from any directory. Only node and npm are needed.
#
# Environment:
#   LOCALAWS_TIMEOUT  seconds to wait for each server to answer (default 60)
#   LOCALAWS_GRACE    seconds stop waits after SIGTERM before SIGKILL (default 5)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
STATE="$ROOT/.localaws"
NM="$ROOT/node_modules"
SERVERS=(kinesis-local kinesalite dynalite s3rver)
TIMEOUT="${LOCALAWS_TIMEOUT:-60}"
GRACE="${LOCALAWS_GRACE:-5}"
# The stamp records which package-lock.json the installed node_modules came from.
STAMP="$NM/.sluice-localaws-lock.sha256"

log() { printf 'localaws: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

need_node() {
	command -v node >/dev/null 2>&1 || die "node is not installed (need Node.js >= 20 and npm)"
	command -v npm >/dev/null 2>&1 || die "npm is not installed (need Node.js >= 20 and npm)"
	local major
	major="$(node -p 'process.versions.node.split(".")[0]')"
	((major >= 20)) || die "node $(node --version) is too old: dynalite 4 needs Node.js >= 20"
}

# entry NAME prints the file node runs for server NAME.
entry() {
	case "$1" in
	kinesis-local) echo "$NM/kinesis-local/main.js" ;;
	kinesalite) echo "$NM/kinesalite/cli.js" ;;
	dynalite) echo "$NM/dynalite/cli.js" ;;
	s3rver) echo "$NM/s3rver/bin/s3rver.js" ;;
	*) die "unknown server $1" ;;
	esac
}

lock_hash() {
	node -e 'const c=require("crypto"),f=require("fs");
process.stdout.write(c.createHash("sha256").update(f.readFileSync(process.argv[1])).digest("hex"))' \
		"$ROOT/package-lock.json"
}

# ensure_installed runs npm ci when node_modules is missing, incomplete or from another lockfile.
ensure_installed() {
	[[ -f "$ROOT/package-lock.json" ]] || die "missing $ROOT/package-lock.json"
	local want have="" name stale=0
	want="$(lock_hash)"
	[[ -f "$STAMP" ]] && have="$(cat "$STAMP")"
	[[ "$have" == "$want" ]] || stale=1
	for name in "${SERVERS[@]}"; do
		[[ -f "$(entry "$name")" ]] || stale=1
	done
	[[ -f "$NM/kinesis-local/server.json" ]] || stale=1
	((stale)) || return 0
	log "installing npm packages (npm ci)"
	if ! (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >"$STATE/npm.log" 2>&1); then
		tail -n 40 "$STATE/npm.log" >&2 || true
		die "npm ci failed (full log: $STATE/npm.log)"
	fi
	printf '%s' "$want" >"$STAMP"
}

# free_ports N prints N distinct free TCP ports, free on all interfaces
# (kinesis-local and kinesalite listen on all of them).
free_ports() {
	node -e 'const net=require("net"),n=+process.argv[1],held=[],ports=[];
(function next(){
  if(ports.length===n){held.forEach(s=>s.close());console.log(ports.join(" "));return}
  const s=net.createServer();
  s.on("error",e=>{console.error(e.message);process.exit(1)});
  s.listen(0,()=>{held.push(s);ports.push(s.address().port);next()});
})()' "$1"
}

# lock serializes start and stop between concurrent callers (two terminals, a test run and a
# developer) so that they never launch two sets of servers over one set of pid files. It uses
# mkdir, which is atomic everywhere, and takes over a lock whose holder has died.
LOCK="$STATE/lock"
lock() {
	local waited=0 holder
	mkdir -p "$STATE"
	until mkdir "$LOCK" 2>/dev/null; do
		holder="$(cat "$LOCK/pid" 2>/dev/null || true)"
		if [[ -n "$holder" ]] && ! kill -0 "$holder" 2>/dev/null; then
			rm -rf "$LOCK"
			continue
		fi
		if ((waited == 0)); then
			log "waiting for another localaws.sh (pid ${holder:-?}) to finish"
		fi
		((waited++ < 3000)) || die "timed out waiting for the lock $LOCK (held by pid ${holder:-?})"
		sleep 0.1
	done
	echo "$$" >"$LOCK/pid"
	trap unlock EXIT
}
unlock() { rm -rf "$LOCK"; }

pid_file() { echo "$STATE/$1.pid"; }
port_file() { echo "$STATE/$1.port"; }
log_file() { echo "$STATE/$1.log"; }

# is_ours PID NAME succeeds if PID is alive and runs server NAME (guards against PID reuse).
is_ours() {
	local pid="$1" name="$2" cmd=""
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	if [[ -r "/proc/$pid/cmdline" ]]; then
		cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
	elif command -v ps >/dev/null 2>&1; then
		cmd="$(ps -p "$pid" -o command= 2>/dev/null || true)"
	else
		return 0 # nothing to check against: trust the pid file
	fi
	[[ "$cmd" == *"$(entry "$name")"* ]]
}

running_pid() {
	local f pid
	f="$(pid_file "$1")"
	[[ -f "$f" ]] || return 1
	pid="$(cat "$f" 2>/dev/null || true)"
	is_ours "$pid" "$1" || return 1
	echo "$pid"
}

# probe PORT [PID [SECONDS]] waits until an HTTP server answers on 127.0.0.1:PORT (any status).
# Exit status: 0 answered, 2 timed out, 3 process PID exited first.
probe() {
	node -e 'const http=require("http");
const port=+process.argv[1], pid=+(process.argv[2]||0), deadline=Date.now()+1000*(+(process.argv[3]||0));
function alive(){ if(!pid) return true; try{process.kill(pid,0);return true}catch(e){return e.code==="EPERM"} }
function again(){ if(Date.now()>=deadline) process.exit(2); setTimeout(attempt,100) }
function attempt(){
  if(!alive()) process.exit(3);
  const req=http.request({host:"127.0.0.1",port,method:"GET",path:"/",timeout:2000},res=>{res.resume();process.exit(0)});
  req.on("timeout",()=>req.destroy(new Error("timeout")));
  req.on("error",again);
  req.end();
}
attempt()' "$@"
}

# launch NAME PORT [TLS_PORT] starts server NAME in the background and writes its pid file.
launch() {
	local name="$1" port="$2" tls="${3:-}" logf pid
	logf="$(log_file "$name")"
	: >"$logf"
	case "$name" in
	kinesis-local)
		# KINESIS_MOCK_CERT_PATH is needed even for the plain port. Limits are raised above the
		# defaults (50 shards, 10 on-demand streams) because tests run in parallel.
		(cd "$STATE" && exec env \
			KINESIS_MOCK_CERT_PATH="$NM/kinesis-local/server.json" \
			KINESIS_MOCK_PLAIN_PORT="$port" \
			KINESIS_MOCK_TLS_PORT="$tls" \
			CREATE_STREAM_DURATION=50ms \
			DELETE_STREAM_DURATION=50ms \
			SPLIT_SHARD_DURATION=50ms \
			MERGE_SHARDS_DURATION=50ms \
			UPDATE_SHARD_COUNT_DURATION=50ms \
			UPDATE_STREAM_MODE_DURATION=50ms \
			REGISTER_STREAM_CONSUMER_DURATION=50ms \
			DEREGISTER_STREAM_CONSUMER_DURATION=50ms \
			START_STREAM_ENCRYPTION_DURATION=50ms \
			STOP_STREAM_ENCRYPTION_DURATION=50ms \
			SHARD_LIMIT=1000 \
			ON_DEMAND_STREAM_COUNT_LIMIT=100 \
			AWS_REGION=us-east-1 \
			AWS_ACCOUNT_ID=000000000000 \
			SHOULD_PERSIST_DATA=false \
			LOG_LEVEL=WARN \
			node "$(entry "$name")") </dev/null >"$logf" 2>&1 &
		;;
	kinesalite)
		(cd "$STATE" && exec node "$(entry "$name")" --port "$port" \
			--createStreamMs 50 --deleteStreamMs 50 --updateStreamMs 50 --shardLimit 100) \
			</dev/null >"$logf" 2>&1 &
		;;
	dynalite)
		(cd "$STATE" && exec node "$(entry "$name")" --host 127.0.0.1 --port "$port" \
			--createTableMs 50 --deleteTableMs 50 --updateTableMs 50) \
			</dev/null >"$logf" 2>&1 &
		;;
	s3rver)
		rm -rf "$STATE/s3rver-data"
		mkdir -p "$STATE/s3rver-data"
		(cd "$STATE" && exec node --openssl-legacy-provider "$(entry "$name")" \
			-d "$STATE/s3rver-data" -a 127.0.0.1 -p "$port" --silent) \
			</dev/null >"$logf" 2>&1 &
		;;
	esac
	pid=$!
	echo "$pid" >"$(pid_file "$name")"
	echo "$port" >"$(port_file "$name")"
}

# wait_ready NAME: 0 ready, 1 failed (message printed), 2 port taken (caller may retry).
wait_ready() {
	local name="$1" pid port rc=0 logf
	pid="$(cat "$(pid_file "$name")")"
	port="$(cat "$(port_file "$name")")"
	logf="$(log_file "$name")"
	probe "$port" "$pid" "$TIMEOUT" || rc=$?
	case "$rc" in
	0) return 0 ;;
	3)
		if grep -q EADDRINUSE "$logf" 2>/dev/null; then
			return 2
		fi
		log "error: $name exited before answering on port $port; last lines of $logf:"
		;;
	*)
		log "error: $name did not answer on 127.0.0.1:$port within ${TIMEOUT}s; last lines of $logf:"
		;;
	esac
	tail -n 30 "$logf" | sed 's/^/    /' >&2 || true
	return 1
}

# stop_servers NAME... stops the named servers by their pid files: SIGTERM to all, wait up to
# GRACE seconds for them to exit, then SIGKILL the ones left. Pid and port files are removed.
stop_servers() {
	local name pid i names=() pids=() left
	for name in "$@"; do
		if pid="$(running_pid "$name")"; then
			kill -TERM "$pid" 2>/dev/null || true
			names+=("$name")
			pids+=("$pid")
		fi
	done
	for ((i = 0; i < GRACE * 10; i++)); do
		left=0
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && left=1
		done
		((left)) || break
		sleep 0.1
	done
	for i in "${!pids[@]}"; do
		if kill -0 "${pids[$i]}" 2>/dev/null; then
			log "${names[$i]} (pid ${pids[$i]}) still running after ${GRACE}s: sending SIGKILL"
			kill -KILL "${pids[$i]}" 2>/dev/null || true
		fi
	done
	for i in "${!pids[@]}"; do
		for ((left = 0; left < 50; left++)); do
			kill -0 "${pids[$i]}" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "${pids[$i]}" 2>/dev/null; then
			log "warning: ${names[$i]} (pid ${pids[$i]}) did not exit"
		else
			log "stopped ${names[$i]} (pid ${pids[$i]})"
		fi
	done
	for name in "$@"; do
		rm -f "$(pid_file "$name")" "$(port_file "$name")"
	done
}

endpoint_var() {
	case "$1" in
	kinesis-local) echo SLUICE_KINESIS_ENDPOINT ;;
	kinesalite) echo SLUICE_KINESALITE_ENDPOINT ;;
	dynalite) echo SLUICE_DYNAMODB_ENDPOINT ;;
	s3rver) echo SLUICE_S3_ENDPOINT ;;
	esac
}

write_env() {
	local name tmp="$STATE/env.tmp"
	{
		echo "# Written by scripts/localaws.sh start; source it or eval \"\$(scripts/localaws.sh env)\"."
		for name in "${SERVERS[@]}"; do
			echo "export $(endpoint_var "$name")=http://127.0.0.1:$(cat "$(port_file "$name")")"
		done
	} >"$tmp"
	mv "$tmp" "$STATE/env"
}

# all_running succeeds if every server is alive, answers, and the env file exists.
all_running() {
	local name pid
	[[ -f "$STATE/env" ]] || return 1
	for name in "${SERVERS[@]}"; do
		pid="$(running_pid "$name")" || return 1
		[[ -f "$(port_file "$name")" ]] || return 1
		probe "$(cat "$(port_file "$name")")" "$pid" 0 || return 1
	done
}

cmd_start() {
	need_node
	lock
	if all_running; then
		log "already running (see $STATE/env)"
		cat "$STATE/env"
		return 0
	fi
	cmd_stop_quiet
	ensure_installed

	local started=$SECONDS attempt name rc failed=0 ports pending=("${SERVERS[@]}") retry
	for attempt in 1 2 3; do
		# kinesis-local needs a second (TLS) port.
		read -r -a ports <<<"$(free_ports $((${#pending[@]} + 1)))"
		if ((${#ports[@]} != ${#pending[@]} + 1)); then
			cmd_stop_quiet
			die "could not pick free ports"
		fi
		local i=0
		for name in "${pending[@]}"; do
			if [[ "$name" == kinesis-local ]]; then
				launch "$name" "${ports[$i]}" "${ports[${#pending[@]}]}"
			else
				launch "$name" "${ports[$i]}"
			fi
			i=$((i + 1))
		done
		retry=()
		for name in "${pending[@]}"; do
			rc=0
			wait_ready "$name" || rc=$?
			case "$rc" in
			0) log "$name ready on 127.0.0.1:$(cat "$(port_file "$name")") (pid $(cat "$(pid_file "$name")"))" ;;
			2)
				log "$name: port $(cat "$(port_file "$name")") was taken, retrying on another port"
				stop_servers "$name" 2>/dev/null
				retry+=("$name")
				;;
			*) failed=1 ;;
			esac
		done
		((failed)) && break
		((${#retry[@]} == 0)) && break
		pending=("${retry[@]}")
		((attempt < 3)) || {
			log "error: could not find free ports for: ${retry[*]}"
			failed=1
		}
	done
	if ((failed)); then
		cmd_stop_quiet
		die "start failed; logs are in $STATE/"
	fi
	write_env
	log "all servers ready in $((SECONDS - started))s; endpoints in $STATE/env"
	cat "$STATE/env"
}

cmd_stop_quiet() {
	stop_servers "${SERVERS[@]}"
	rm -f "$STATE/env"
}

cmd_stop() {
	[[ -d "$STATE" ]] || return 0
	lock
	cmd_stop_quiet
}

cmd_env() {
	[[ -f "$STATE/env" ]] || die "not running: run scripts/localaws.sh start"
	grep '^export ' "$STATE/env"
}

cmd_status() {
	need_node
	if all_running; then
		grep '^export ' "$STATE/env"
		return 0
	fi
	log "not (fully) running"
	return 1
}

main() {
	case "${1:-}" in
	start) cmd_start ;;
	stop) cmd_stop ;;
	env) cmd_env ;;
	status) cmd_status ;;
	*)
		echo "usage: $0 start|stop|env|status" >&2
		exit 2
		;;
	esac
}

main "$@"
