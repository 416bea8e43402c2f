#!/usr/bin/env bash
# Cold-install and no-op benchmark of `distro apply` against a kubectl
# baseline, on fresh local control planes (hack/cluster.sh).
#
#   hack/bench-apply.sh
#   TIMEOUT=10m hack/bench-apply.sh               per-release / per-wait timeout (default 5m)
#   DISTRO_BIN=path/to/distro hack/bench-apply.sh  skip the cargo build
#   KEEP=1 hack/bench-apply.sh                     keep the work directory (logs, audit logs)
#
# Steps:
#   1. cargo build --release; hack/cluster.sh build.
#   2. Render the default distribution once (distro render --out R) and read
#      the release DAG (distro graph -o json).
#   3. distro: on a fresh cluster A, time `distro apply --timeout $TIMEOUT`
#      (the cold install, from the repository root; it must exit 0). Then
#      re-apply unchanged, timed, and count from A's audit log the write
#      requests the no-op run made.
#   4. Baseline: on a fresh cluster B, apply the rendered files with kubectl,
#      release by release in the DAG's order, as a script would
#      (hack/bench/apply-plan.py writes it): create the release's namespace if
#      it is missing, `kubectl apply --server-side --field-manager=baseline`
#      the CRDs and wait for Established, then the rest of the file, then
#      `kubectl wait --for=condition=Available` the Deployments and
#      `kubectl rollout status` the DaemonSets and StatefulSets. Timed as a
#      whole. Then the same commands again, unchanged, counting their writes.
#   5. Print a summary.
#
# Clusters run one after the other, never together, and always come down
# (trap on exit). A write is an audit event with stage ResponseComplete, verb
# create, update, patch, delete or deletecollection, no `dryRun=` in the
# request URI, and a userAgent starting with `distro/` (resp. `kubectl`),
# among the audit lines the command added (hack/bench/apply-audit.py).
#
# Goals: distro's cold install takes at most GOAL_RATIO (0.5) of the
# baseline's time, and the no-op re-apply makes 0 write requests.
#
# The last line is machine-readable:
#   bench-apply: distro_s=.. baseline_s=.. ratio=.. distro_noop_writes=.. distro_noop_s=.. baseline_noop_writes=..
#
# Exit codes: 0 goals met, 1 a goal missed (or distro apply failed), anything
# else the benchmark itself failed (build, cluster, render, baseline).
set -euo pipefail

TIMEOUT=${TIMEOUT:-5m}
GOAL_RATIO=${GOAL_RATIO:-0.5}
KEEP=${KEEP:-0}
KUBECTL=${KUBECTL:-/usr/bin/kubectl}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
START_DIR=$PWD
CLUSTER_SH=$ROOT/hack/cluster.sh
PLAN=$ROOT/hack/bench/apply-plan.py
AUDIT=$ROOT/hack/bench/apply-audit.py

log() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'bench-apply: %s\n' "$*" >&2
    exit 2
}

command -v python3 >/dev/null || die "python3 is required"
command -v setsid >/dev/null || die "setsid is required (util-linux)"
[[ -x $KUBECTL ]] || die "no kubectl at $KUBECTL (set KUBECTL)"

# Everything below talks to 127.0.0.1 only: no proxy may be involved.
LOCAL=(env -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u http_proxy -u https_proxy -u all_proxy
    NO_PROXY='*' no_proxy='*')

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-apply.XXXXXX")
CLUSTERS=()
CHILD=

# stop_cluster DIR: brings down the cluster in DIR, if it is still up.
stop_cluster() {
    [[ -f $1/pids ]] || return 0
    bash "$CLUSTER_SH" down "$1" >>"$WORK/cluster-down.log" 2>&1 ||
        printf 'bench-apply: could not stop the cluster in %s (see %s)\n' "$1" "$WORK/cluster-down.log" >&2
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # A measured command still running (interrupted): its process group.
    if [[ -n $CHILD ]]; then
        kill -TERM -- "-$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    local d
    for d in "${CLUSTERS[@]}"; do
        stop_cluster "$d"
    done
    if [[ $KEEP == 1 || $rc -gt 1 ]]; then
        printf 'bench-apply: logs, rendered files and audit logs kept in %s\n' "$WORK" >&2
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
lines() { wc -l <"$1" | tr -d ' '; }
# field KEY LINE: the value of KEY=value in a line of apply-audit.py.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -n 1; }

# measure NAME CMD...: runs CMD from the repository root in a process group of
# its own, stdout to $WORK/NAME.out and stderr to $WORK/NAME.err, and waits
# for it (in the background, so that a signal stops the benchmark at once).
# Sets RC and TOOK (seconds).
measure() {
    local name=$1 t0 t1
    shift
    t0=$(now_ns)
    setsid -w "${LOCAL[@]}" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    CHILD=$!
    RC=0
    wait "$CHILD" || RC=$?
    CHILD=
    t1=$(now_ns)
    TOOK=$(secs "$t0" "$t1")
}

# cluster_up NAME: starts a fresh cluster in $WORK/NAME and sets KCFG and
# AUDIT_LOG.
cluster_up() {
    local dir=$WORK/$1
    mkdir -p "$dir"
    CLUSTERS+=("$dir")
    log "starting cluster $1"
    if ! bash "$CLUSTER_SH" up "$dir" >/dev/null 2>"$WORK/$1.up.log"; then
        tail -n 30 "$WORK/$1.up.log" >&2
        die "cluster $1 did not start"
    fi
    KCFG=$dir/kubeconfig
    AUDIT_LOG=$dir/audit.log
    [[ -f $KCFG && -f $AUDIT_LOG ]] || die "cluster $1 has no kubeconfig or audit log"
}

# 1. Build.
if [[ -n ${DISTRO_BIN:-} ]]; then
    log "using $DISTRO_BIN (DISTRO_BIN set, not building)"
    BIN=$DISTRO_BIN
else
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release)
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/distro
fi
case $BIN in /*) ;; *) BIN=$START_DIR/$BIN ;; esac
[[ -x $BIN ]] || die "no binary at $BIN"
cd "$ROOT"
log "hack/cluster.sh build"
bash "$CLUSTER_SH" build

# 2. Render once, read the DAG, write the baseline script.
log "distro render --out, distro graph -o json"
"$BIN" render --out "$WORK/rendered" >/dev/null
"$BIN" graph -o json >"$WORK/graph.json"
python3 "$PLAN" --rendered "$WORK/rendered" --graph "$WORK/graph.json" \
    --split "$WORK/split" --out "$WORK/baseline.sh" >"$WORK/plan.txt"
RELEASES=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["order"]))' "$WORK/graph.json")
OBJECTS=$(python3 -c 'import json, sys; print(sum(e["objects"] for e in json.load(open(sys.argv[1]))))' "$WORK/rendered/index.json")
ORDER=$(python3 -c 'import json, sys; print(" ".join(json.load(open(sys.argv[1]))["order"]))' "$WORK/graph.json")
log "$RELEASES releases, $OBJECTS objects; order: $ORDER"

# 3. distro on cluster A.
cluster_up a
distro_apply() { measure "$1" env KUBECONFIG="$KCFG" "$BIN" apply --timeout "$TIMEOUT"; }

log "distro apply (cold install)"
before=$(lines "$AUDIT_LOG")
distro_apply distro-cold
DISTRO_RC=$RC
DISTRO_S=$TOOK
after=$(lines "$AUDIT_LOG")
DISTRO_COLD=$(python3 "$AUDIT" "$AUDIT_LOG" "$before" "$after" distro/)

DISTRO_OK=yes
DISTRO_NOOP_S=n/a
DISTRO_NOOP_WRITES=n/a
DISTRO_NOOP=
if [[ $DISTRO_RC -ne 0 ]]; then
    DISTRO_OK=no
    {
        echo "bench-apply: distro apply failed on the default distribution (exit $DISTRO_RC) after ${DISTRO_S}s"
        echo "--- stdout"
        cat "$WORK/distro-cold.out"
        echo "--- stderr"
        cat "$WORK/distro-cold.err"
        echo "---"
    } >&2
else
    cat "$WORK/distro-cold.out" >&2
    log "distro apply (no-op re-apply)"
    before=$(lines "$AUDIT_LOG")
    distro_apply distro-noop
    DISTRO_NOOP_S=$TOOK
    after=$(lines "$AUDIT_LOG")
    DISTRO_NOOP=$(python3 "$AUDIT" "$AUDIT_LOG" "$before" "$after" distro/)
    DISTRO_NOOP_WRITES=$(field writes "$DISTRO_NOOP")
    if [[ $RC -ne 0 ]]; then
        DISTRO_OK=no
        {
            echo "bench-apply: the no-op distro apply failed (exit $RC)"
            cat "$WORK/distro-noop.out" "$WORK/distro-noop.err"
        } >&2
    fi
fi
stop_cluster "$WORK/a"

# 4. The kubectl baseline on cluster B.
cluster_up b
baseline() {
    measure "$1" env KUBECONFIG="$KCFG" KUBECTL="$KUBECTL" FIELD_MANAGER=baseline TIMEOUT="$TIMEOUT" \
        bash "$WORK/baseline.sh"
    if [[ $RC -ne 0 ]]; then
        tail -n 30 "$WORK/$1.err" >&2
        die "the kubectl baseline ($1) failed (exit $RC)"
    fi
}

log "kubectl baseline (cold install)"
before=$(lines "$AUDIT_LOG")
baseline baseline-cold
BASELINE_S=$TOOK
after=$(lines "$AUDIT_LOG")
BASELINE_COLD=$(python3 "$AUDIT" "$AUDIT_LOG" "$before" "$after" kubectl)

log "kubectl baseline (no-op re-apply)"
before=$(lines "$AUDIT_LOG")
baseline baseline-noop
BASELINE_NOOP_S=$TOOK
after=$(lines "$AUDIT_LOG")
BASELINE_NOOP=$(python3 "$AUDIT" "$AUDIT_LOG" "$before" "$after" kubectl)
BASELINE_NOOP_WRITES=$(field writes "$BASELINE_NOOP")
stop_cluster "$WORK/b"

# 5. Summary.
if [[ $DISTRO_OK == yes ]]; then
    RATIO=$(awk -v d="$DISTRO_S" -v b="$BASELINE_S" 'BEGIN { printf "%.2f", d / b }')
    RATIO_OK=$(awk -v r="$RATIO" -v g="$GOAL_RATIO" 'BEGIN { print (r <= g) ? "yes" : "no" }')
    NOOP_OK=$([[ $DISTRO_NOOP_WRITES == 0 ]] && echo yes || echo no)
    DISTRO_S_OUT=$DISTRO_S
else
    RATIO=n/a RATIO_OK=no NOOP_OK=no DISTRO_S_OUT=failed
fi
verdict() { [[ $1 == yes ]] && echo PASS || echo FAIL; }
requests() {
    [[ -n $1 ]] || { echo n/a; return; }
    local r
    r=$(tr ' ' '\n' <<<"$1" | grep -Ev '^(writes|requests|dry_runs|writes_by)=' | paste -sd ' ')
    echo "$(field requests "$1") ($r)"
}

echo
echo "distro apply benchmark ($(uname -m), $(nproc) CPUs): default distribution, $RELEASES releases, $OBJECTS objects"
printf '  %-36s %s\n' \
    "distro apply, cold install" "${DISTRO_S_OUT}s$([[ $DISTRO_OK == yes ]] || echo " (exit $DISTRO_RC)")" \
    "  its requests / writes" "$(requests "$DISTRO_COLD") / $(field writes "$DISTRO_COLD")" \
    "kubectl baseline, cold install" "${BASELINE_S}s" \
    "  its requests / writes" "$(requests "$BASELINE_COLD") / $(field writes "$BASELINE_COLD")" \
    "ratio distro / baseline" "$RATIO" \
    "distro apply, no-op re-apply" "${DISTRO_NOOP_S}s, $DISTRO_NOOP_WRITES writes" \
    "  its requests" "$(requests "$DISTRO_NOOP")" \
    "kubectl baseline, no-op re-apply" "${BASELINE_NOOP_S}s, $BASELINE_NOOP_WRITES writes" \
    "  its requests" "$(requests "$BASELINE_NOOP")"
if [[ -n $DISTRO_NOOP && $DISTRO_NOOP_WRITES != 0 ]]; then
    printf '  %-36s %s\n' "  distro's no-op writes (first 20)" "$(field writes_by "$DISTRO_NOOP")"
fi
echo
printf '  %-36s %-12s %-12s %s\n' "goal" "target" "measured" "result"
printf '  %-36s %-12s %-12s %s\n' \
    "cold install, distro / baseline" "<= $GOAL_RATIO" "$RATIO" "$(verdict "$RATIO_OK")" \
    "no-op re-apply writes (distro)" "0" "$DISTRO_NOOP_WRITES" "$(verdict "$NOOP_OK")"
echo
echo "bench-apply: distro_s=$DISTRO_S_OUT baseline_s=$BASELINE_S ratio=$RATIO distro_noop_writes=$DISTRO_NOOP_WRITES distro_noop_s=$DISTRO_NOOP_S baseline_noop_writes=$BASELINE_NOOP_WRITES baseline_noop_s=$BASELINE_NOOP_S releases=$RELEASES objects=$OBJECTS ratio_ok=$RATIO_OK noop_ok=$NOOP_OK"

[[ $RATIO_OK == yes && $NOOP_OK == yes ]] || exit 1
