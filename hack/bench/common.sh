# Shared by the hack/bench-*.sh scripts; sourced, not run. The script sets
# BENCH (its name, for messages) and ROOT before sourcing this file.
#
# Gives: log and die; no proxy; WORK (a scratch directory, kept with KEEP=1
# or when the benchmark itself failed); PIDS and CLUSTERS, which the exit
# trap stops (processes by PID, clusters through hack/cluster.sh down);
# now_ns, secs, ratio and free_port.

CLUSTER_SH=$ROOT/hack/cluster.sh
KEEP=${KEEP:-0}

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf '%s: %s\n' "$BENCH" "$*" >&2
	exit 2
}

# Everything talks to 127.0.0.1 only: no proxy may be involved.
unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
export NO_PROXY='*' no_proxy='*'

WORK=$(mktemp -d "${TMPDIR:-/tmp}/$BENCH.XXXXXX")
PIDS=()
CLUSTERS=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local pid dir
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	for dir in "${CLUSTERS[@]}"; do
		if [[ -f $dir/pids ]]; then
			bash "$CLUSTER_SH" down "$dir" >>"$WORK/cluster-down.log" 2>&1 || true
		fi
	done
	if [[ $KEEP == 1 || $rc -gt 1 ]]; then
		printf '%s: logs and audit logs kept in %s\n' "$BENCH" "$WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ns() { date +%s%N; }
secs() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.2f", (e - s) / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
