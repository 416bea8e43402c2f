#!/usr/bin/env bash
# Scale benchmark of `distro controller`: a generated platform of RELEASES
# releases x 10 objects on a random dependency graph LEVELS deep
# (hack/bench/scale-gen.py, seed SEED), followed from a `git daemon`
# repository on 127.0.0.1, on a fresh local control plane:
#
#   1. cold install: Platform created -> Ready at the first commit;
#   2. no-op reconcile: a requested reconcile (what `distro reconcile
#      platform` sets) at the same commit;
#   3. one changed release: a commit that changes one release's values,
#      then a requested reconcile -> Ready at the new commit;
#
# each with its time and the controller's API requests (audit log), and the
# controller's peak RSS (VmHWM) at the end. The baseline, on another fresh
# cluster in the same run, is the floor a plain script reaches: the same
# rendered objects (`distro render --out`) applied with
# `kubectl apply --server-side`, KUBECTL_PARALLEL processes at once, no
# order, then `kubectl wait` for every Deployment; then the same again
# (no-op), then the changed release's file.
#
#   hack/bench-scale.sh                          1000 releases, 12 levels
#   RELEASES=200 LEVELS=10 hack/bench-scale.sh   a smaller run
#   CONCURRENCY=16 hack/bench-scale.sh           the controller's --concurrency (default 16)
#   KUBECTL_PARALLEL=16 KUBECTL_FILES=5 hack/bench-scale.sh   kubectl processes at once, files each
#   DISTRO_BIN=path/to/distro hack/bench-scale.sh  skip the cargo build
#   KEEP=1 hack/bench-scale.sh                   keep the work directory
#   BASELINE=0 hack/bench-scale.sh               distro alone, no kubectl run (ratios print as n/a)
#
# Goals: controller peak RSS under 100 MiB at 1000 releases; cold install,
# no-op and one changed release each within 1.5x of the kubectl floor. Clusters run one after the other.
# Exit codes: 0 goals met, 1 a goal missed, 2 the benchmark itself failed.
# The last line is machine-readable (bench-scale: key=value ...).
set -euo pipefail

RELEASES=${RELEASES:-1000}
LEVELS=${LEVELS:-12}
SEED=${SEED:-1}
CONCURRENCY=${CONCURRENCY:-16}
KUBECTL_PARALLEL=${KUBECTL_PARALLEL:-16}
KUBECTL_FILES=${KUBECTL_FILES:-5}
WAIT=${WAIT:-1800}
KUBECTL=${KUBECTL:-kubectl}
GOAL_RSS_MIB=${GOAL_RSS_MIB:-100}
GOAL_RATIO=${GOAL_RATIO:-1.5}
BASELINE=${BASELINE:-1}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GEN=$ROOT/hack/bench/scale-gen.py
AUDIT=$ROOT/hack/bench/apply-audit.py

BENCH=bench-scale
# shellcheck source=hack/bench/common.sh
source "$ROOT/hack/bench/common.sh"

for tool in python3 git curl; do
	command -v "$tool" >/dev/null || die "$tool is required"
done
command -v "$KUBECTL" >/dev/null || die "no kubectl ($KUBECTL)"

lines() { wc -l <"$1" | tr -d ' '; }
# requests FROM TO PREFIX: the key=value counts of hack/bench/apply-audit.py.
requests() { python3 "$AUDIT" "$AUDIT_LOG" "$1" "$2" "$3"; }
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# up NAME: a fresh cluster in $WORK/NAME; sets KUBECONFIG and AUDIT_LOG.
up() {
	local dir=$WORK/$1
	CLUSTERS+=("$dir")
	bash "$CLUSTER_SH" up "$dir" >/dev/null 2>"$WORK/$1-up.log" || {
		tail -n 20 "$WORK/$1-up.log" >&2
		die "the cluster $1 did not start"
	}
	export KUBECONFIG=$dir/kubeconfig
	AUDIT_LOG=$dir/audit.log
}
down() { bash "$CLUSTER_SH" down "$WORK/$1" >>"$WORK/cluster-down.log" 2>&1; }

# wait_for WHAT CMD...: runs CMD every 0.5 s until it succeeds, at most $WAIT s.
wait_for() {
	local what=$1 deadline=$(($(date +%s) + WAIT))
	shift
	until "$@" >/dev/null 2>&1; do
		[[ $(date +%s) -lt $deadline ]] || {
			[[ -f $WORK/controller.log ]] && tail -n 30 "$WORK/controller.log" >&2
			die "timed out waiting for $what"
		}
		sleep 0.5
	done
}

# watch_for WHAT JSONPATH VALUE: waits, through a watch (kubectl wait), until
# the Platform's JSONPATH reads VALUE, at most $WAIT s. A watch sees the
# status the moment it is written, as `kubectl rollout status` does for the
# baseline, so neither side's time carries a polling interval.
watch_for() {
	"$KUBECTL" -n distro-system wait platform/scale --for="jsonpath=$2=$3" --timeout="${WAIT}s" >/dev/null 2>&1 || {
		[[ -f $WORK/controller.log ]] && tail -n 30 "$WORK/controller.log" >&2
		die "timed out waiting for $1"
	}
}

if [[ -n ${DISTRO_BIN:-} ]]; then
	DISTRO=$DISTRO_BIN
else
	log "building distro (release)"
	(cd "$ROOT" && cargo build --release --locked --quiet) || die "cargo build failed"
	DISTRO=${CARGO_TARGET_DIR:-$ROOT/target}/release/distro
fi
[[ -x $DISTRO ]] || die "no distro binary at $DISTRO"
bash "$CLUSTER_SH" build >/dev/null

log "generating $RELEASES releases x 10 objects, $LEVELS levels (seed $SEED)"
git_() { git -c user.name=bench -c user.email=bench@example.invalid "$@"; }
# Git reads no configuration of the machine or the user (HOME stays: the
# cluster and Go caches live under it).
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
mkdir -p "$WORK/repos"
python3 "$GEN" --releases "$RELEASES" --levels "$LEVELS" --seed "$SEED" --out "$WORK/work"
(cd "$WORK/work" && "$DISTRO" render --out "$WORK/rendered" >/dev/null) || die "distro render failed"
CHANGED=$(printf 'svc-%04d' $((RELEASES / 2)))
python3 "$GEN" --releases "$RELEASES" --levels "$LEVELS" --seed "$SEED" --change $((RELEASES / 2)) --out "$WORK/changed"
(cd "$WORK/changed" && "$DISTRO" render --out "$WORK/rendered-changed" >/dev/null) || die "distro render failed"
OBJECTS=$(grep -c '^kind:' "$WORK"/rendered/*.yaml | awk -F: '{ n += $2 } END { print n }')

git init --quiet --bare "$WORK/repos/platform.git"
(cd "$WORK/work" && git init --quiet -b main && git_ add -A && git_ commit --quiet -m first &&
	git remote add origin "$WORK/repos/platform.git" && git push --quiet origin main)
FIRST=$(git -C "$WORK/work" rev-parse HEAD)
GIT_PORT=$(free_port)
/usr/lib/git-core/git-daemon --reuseaddr --base-path="$WORK/repos" --export-all \
	--listen=127.0.0.1 --port="$GIT_PORT" "$WORK/repos" 2>"$WORK/git-daemon.log" &
PIDS+=($!)

# ---------------------------------------------------------------------------
log "distro controller on a fresh cluster"
up distro
RUST_LOG=info "$DISTRO" controller --namespace distro-system --state-dir "$WORK/state" \
	--concurrency "$CONCURRENCY" --metrics-addr 127.0.0.1:0 --health-addr 127.0.0.1:0 \
	2>"$WORK/controller.log" &
CONTROLLER=$!
PIDS+=("$CONTROLLER")
crd_established() {
	[[ $("$KUBECTL" get crd platforms.distro.dev -o jsonpath='{.status.conditions[?(@.type=="Established")].status}') == True ]]
}
wait_for "the Platform CRD" crd_established
# ready_at WHAT SHA: waits until the Platform's lastAppliedRevision is SHA,
# which the controller writes only once every release is Ready at it.
ready_at() { watch_for "$1" '{.status.lastAppliedRevision}' "main@sha1:$2"; }
"$KUBECTL" create namespace distro-system >/dev/null

log "cold install ($RELEASES releases, $OBJECTS objects)"
mark=$(lines "$AUDIT_LOG")
t0=$(now_ns)
"$KUBECTL" apply --server-side -f - >/dev/null <<EOF
apiVersion: distro.dev/v1alpha1
kind: Platform
metadata: {name: scale, namespace: distro-system}
spec:
  source:
    git: {url: "git://127.0.0.1:$GIT_PORT/platform.git"}
  interval: 60m
  timeout: 10m
EOF
ready_at "the cold install" "$FIRST"
D_COLD=$(secs "$t0" "$(now_ns)")
D_COLD_REQ=$(requests "$mark" "$(lines "$AUDIT_LOG")" distro/)

# request_reconcile: what `distro reconcile platform` does (the requestedAt
# annotation), through kubectl so that only the controller's requests carry
# distro's user agent. Sets STAMP.
request_reconcile() {
	STAMP=$(date +%s%N)
	"$KUBECTL" -n distro-system annotate --overwrite platform scale "reconcile.distro.dev/requestedAt=$STAMP" >/dev/null
}
ready_now() {
	[[ $("$KUBECTL" -n distro-system get platform scale -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

# settle: waits until the controller has sent nothing but Lease renewals
# for 2 s, at most $WAIT s: the Events of the run before (published after
# its status) and the drift checks of what the Deployment controller
# changed are not the next run's work.
settle() {
	local deadline=$(($(date +%s) + WAIT)) mark busy
	while :; do
		mark=$(lines "$AUDIT_LOG")
		sleep 2
		busy=$(tail -n +"$((mark + 1))" "$AUDIT_LOG" | grep -F '"userAgent":"distro/' | grep -vc '/leases/' || true)
		[[ $busy -eq 0 ]] && return
		[[ $(date +%s) -lt $deadline ]] || die "the controller did not settle"
	done
}

log "no-op reconcile"
settle
mark=$(lines "$AUDIT_LOG")
t0=$(now_ns)
request_reconcile
watch_for "the requested reconcile" '{.status.lastHandledReconcileAt}' "$STAMP"
D_NOOP=$(secs "$t0" "$(now_ns)")
ready_now || die "the Platform is not Ready after the no-op reconcile"
D_NOOP_REQ=$(requests "$mark" "$(lines "$AUDIT_LOG")" distro/)

log "one changed release ($CHANGED)"
cp "$WORK/changed/bundles/scale.yaml" "$WORK/work/bundles/scale.yaml"
cp "$WORK/changed/distro.lock" "$WORK/work/distro.lock" 2>/dev/null || true
(cd "$WORK/work" && git_ commit --quiet -am "change $CHANGED" && git push --quiet origin main)
SECOND=$(git -C "$WORK/work" rev-parse HEAD)
settle
mark=$(lines "$AUDIT_LOG")
t0=$(now_ns)
request_reconcile
ready_at "the change" "$SECOND"
D_CHANGE=$(secs "$t0" "$(now_ns)")
D_CHANGE_REQ=$(requests "$mark" "$(lines "$AUDIT_LOG")" distro/)

D_RSS_KIB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$CONTROLLER/status")
D_RSS_MIB=$(awk -v k="$D_RSS_KIB" 'BEGIN { printf "%.1f", k / 1024 }')
kill -TERM "$CONTROLLER"
wait "$CONTROLLER" 2>/dev/null || true
down distro

# ---------------------------------------------------------------------------
if [[ $BASELINE == 1 ]]; then
	log "kubectl apply --server-side ($KUBECTL_PARALLEL at once) on a fresh cluster"
	up kubectl
	python3 -c 'import json,sys; print("\n".join(sorted({r["namespace"] for r in json.load(open(sys.argv[1]))})))' \
		"$WORK/rendered/index.json" >"$WORK/namespaces"
	[[ -s $WORK/namespaces ]] || die "no namespaces in $WORK/rendered/index.json"
	# apply_all DIR: every release file of DIR, KUBECTL_PARALLEL kubectl processes
	# at once, KUBECTL_FILES files each (one kubectl applies its objects one after
	# the other: few files per process keep the requests in flight).
	apply_all() {
		find "$1" -name '*.yaml' -print0 | sort -z |
			xargs -0 -n "$KUBECTL_FILES" -P "$KUBECTL_PARALLEL" sh -c '"$0" apply --server-side --field-manager=baseline $(printf -- " -f %s" "$@") >/dev/null' "$KUBECTL"
	}
	deployments_available() {
		"$KUBECTL" wait deployment --all -A --for=condition=Available --timeout=600s >/dev/null
	}
	mark=$(lines "$AUDIT_LOG")
	t0=$(now_ns)
	awk '{ printf "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", $1 }' "$WORK/namespaces" |
		"$KUBECTL" apply --server-side --field-manager=baseline -f - >/dev/null
	apply_all "$WORK/rendered" || die "kubectl apply failed"
	K_APPLY=$(secs "$t0" "$(now_ns)")
	deployments_available || die "the Deployments did not become Available"
	K_COLD=$(secs "$t0" "$(now_ns)")
	K_COLD_REQ=$(requests "$mark" "$(lines "$AUDIT_LOG")" kubectl)

	mark=$(lines "$AUDIT_LOG")
	t0=$(now_ns)
	apply_all "$WORK/rendered" || die "kubectl apply failed"
	K_NOOP=$(secs "$t0" "$(now_ns)")
	K_NOOP_REQ=$(requests "$mark" "$(lines "$AUDIT_LOG")" kubectl)

	mark=$(lines "$AUDIT_LOG")
	t0=$(now_ns)
	"$KUBECTL" apply --server-side --field-manager=baseline -f "$WORK/rendered-changed/$CHANGED.yaml" >/dev/null
	"$KUBECTL" -n "$(sed -n 's/^  namespace: //p' "$WORK/rendered-changed/$CHANGED.yaml" | head -n 1)" \
		rollout status "deployment/$CHANGED" --timeout=600s >/dev/null
	K_CHANGE=$(secs "$t0" "$(now_ns)")
	K_CHANGE_REQ=$(requests "$mark" "$(lines "$AUDIT_LOG")" kubectl)
	down kubectl
else
	# Without the baseline the table shows distro's figures and no ratios.
	K_COLD=0 K_NOOP=0 K_CHANGE=0 K_APPLY=n/a
	K_COLD_REQ="requests=0 writes=0" K_NOOP_REQ=$K_COLD_REQ K_CHANGE_REQ=$K_COLD_REQ
fi

# ---------------------------------------------------------------------------
row() { printf '  %-22s %9s s %8s req %7s writes   | %9s s %8s req %7s writes   | %6s\n' "$@"; }
cat <<EOF

Scale: $RELEASES releases x 10 objects ($OBJECTS objects), $LEVELS levels, seed $SEED
distro controller (--concurrency $CONCURRENCY) vs kubectl apply --server-side ($KUBECTL_PARALLEL parallel, + kubectl wait)
                          distro                                     | kubectl                                    | time ratio
EOF
row "cold install" "$D_COLD" "$(field "$D_COLD_REQ" requests)" "$(field "$D_COLD_REQ" writes)" \
	"$K_COLD" "$(field "$K_COLD_REQ" requests)" "$(field "$K_COLD_REQ" writes)" "$(ratio "$D_COLD" "$K_COLD")"
row "no-op" "$D_NOOP" "$(field "$D_NOOP_REQ" requests)" "$(field "$D_NOOP_REQ" writes)" \
	"$K_NOOP" "$(field "$K_NOOP_REQ" requests)" "$(field "$K_NOOP_REQ" writes)" "$(ratio "$D_NOOP" "$K_NOOP")"
row "one changed release" "$D_CHANGE" "$(field "$D_CHANGE_REQ" requests)" "$(field "$D_CHANGE_REQ" writes)" \
	"$K_CHANGE" "$(field "$K_CHANGE_REQ" requests)" "$(field "$K_CHANGE_REQ" writes)" "$(ratio "$D_CHANGE" "$K_CHANGE")"
cat <<EOF
  kubectl apply alone (no wait): $K_APPLY s
  controller peak RSS (VmHWM): $D_RSS_MIB MiB (goal < $GOAL_RSS_MIB MiB)
  distro cold-install requests by verb: $D_COLD_REQ
  distro no-op requests by verb: $D_NOOP_REQ

bench-scale: releases=$RELEASES levels=$LEVELS distro_cold_s=$D_COLD kubectl_cold_s=$K_COLD cold_ratio=$(ratio "$D_COLD" "$K_COLD") distro_noop_s=$D_NOOP distro_noop_requests=$(field "$D_NOOP_REQ" requests) distro_noop_writes=$(field "$D_NOOP_REQ" writes) distro_change_s=$D_CHANGE distro_change_requests=$(field "$D_CHANGE_REQ" requests) rss_mib=$D_RSS_MIB
EOF

rc=0
awk -v r="$D_RSS_MIB" -v g="$GOAL_RSS_MIB" 'BEGIN { exit !(r < g) }' || rc=1
if [[ $BASELINE == 1 ]]; then
	for pair in "$D_COLD $K_COLD" "$D_NOOP $K_NOOP" "$D_CHANGE $K_CHANGE"; do
		read -r d k <<<"$pair"
		awk -v d="$d" -v k="$k" -v g="$GOAL_RATIO" 'BEGIN { exit !(d <= g * k) }' || rc=1
	done
fi
exit "$rc"
