#!/usr/bin/env bash
# distro controller vs Flux (source-controller + kustomize-controller), each
# on a fresh local control plane, reconciling the default distribution from
# the same Git repository on 127.0.0.1:
#
#   - distro: one Platform following the repository (platform.yaml, bundles/,
#     packages/), with its GitHub webhook receiver;
#   - Flux: one GitRepository and one Kustomization per release, over the
#     same commit's `distro render --out` files (flux/<release>/), with the
#     same dependsOn edges (`distro graph -o json`), `wait: true` and
#     prune; plus a `namespaces` Kustomization first (distro creates a
#     release's namespace itself; Flux applies only what the files hold).
#
# Measured, in this order, for each:
#   1. cold install: objects created -> everything Ready at the first commit;
#   2. push -> applied, polling: the source polled every INTERVAL (10 s);
#      the commit changes one release; -> Ready at the new commit
#      everywhere (distro: the Platform; Flux: every Kustomization);
#   3. distro only: push -> applied through its webhook (Flux would need
#      notification-controller's Receiver, not run here);
#   4. requests of one forced no-op reconcile, from the audit log: distro
#      `distro reconcile platform`; Flux the reconcile.fluxcd.io/requestedAt
#      annotation (`flux reconcile`) on the GitRepository and every
#      Kustomization; and requests per minute while idle (INTERVAL polls);
#   5. peak RSS (VmHWM) of the controller processes (Flux: the sum of both).
#
# Both run as they are deployed, except leader election, off for both (Flux's
# default outside its manifests), so that Lease renewals do not count.
# Flux's kustomize-controller re-checks a dependency that is not Ready every
# --requeue-dependency (30 s by default, kept).
#
# Flux is built from its Go modules by hack/bench/flux-build.sh (cached
# under ~/.cache/distro/flux/<version>). Git is served by `git http-backend`
# (hack/bench/git-http.py) because Flux's GitRepository accepts only
# http(s):// and ssh:// URLs; distro reads the same URL.
#
#   hack/bench-flux.sh
#   INTERVAL=30s hack/bench-flux.sh         the polling interval of both (default 10s)
#   FLUX_VERSION=v1.9.6 hack/bench-flux.sh  the Flux controllers' version
#   DISTRO_BIN=path/to/distro hack/bench-flux.sh   skip the cargo build
#   KEEP=1 hack/bench-flux.sh                keep the work directory
#
# Goals: distro's cold-install time and RSS at most 0.5x Flux's; fewer
# requests per no-op reconcile. Exit codes: 0 goals met, 1 a goal missed,
# 2 the benchmark itself failed. The last line is machine-readable.
set -euo pipefail

INTERVAL=${INTERVAL:-10s}
IDLE=${IDLE:-60}
WAIT=${WAIT:-900}
KUBECTL=${KUBECTL:-kubectl}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AUDIT=$ROOT/hack/bench/apply-audit.py

BENCH=bench-flux
# shellcheck source=hack/bench/common.sh
source "$ROOT/hack/bench/common.sh"

for tool in python3 git openssl curl; do
	command -v "$tool" >/dev/null || die "$tool is required"
done
command -v "$KUBECTL" >/dev/null || die "no kubectl ($KUBECTL)"

lines() { wc -l <"$AUDIT_LOG" | tr -d ' '; }
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
# requests FROM TO PREFIX...: requests (any verb) whose user agent starts
# with one of the prefixes, among audit lines FROM+1..TO.
requests() {
	local from=$1 to=$2 total=0 prefix n
	shift 2
	for prefix in "$@"; do
		n=$(field "$(python3 "$AUDIT" "$AUDIT_LOG" "$from" "$to" "$prefix")" requests)
		total=$((total + n))
	done
	echo "$total"
}
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

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

# wait_for WHAT CMD...: runs CMD every 0.2 s until it succeeds, at most $WAIT s.
wait_for() {
	local what=$1 deadline=$(($(date +%s) + WAIT))
	shift
	until "$@" >/dev/null 2>&1; do
		[[ $(date +%s) -lt $deadline ]] || die "timed out waiting for $what (logs in $WORK)"
		sleep 0.2
	done
}

if [[ -n ${DISTRO_BIN:-} ]]; then
	DISTRO=$DISTRO_BIN
else
	log "building distro (release)"
	(cd "$ROOT" && cargo build --release --locked --quiet) || die "cargo build failed"
	DISTRO=${CARGO_TARGET_DIR:-$ROOT/target}/release/distro
fi
[[ -x $DISTRO ]] || die "no distro binary at $DISTRO"
log "building Flux's controllers (cached)"
FLUX_DIR=$(bash "$ROOT/hack/bench/flux-build.sh") || die "building Flux failed"
bash "$CLUSTER_SH" build >/dev/null

# ---------------------------------------------------------------------------
log "creating the repository"
git_() { git -c user.name=bench -c user.email=bench@example.invalid "$@"; }
# Git reads no configuration of the machine or the user (HOME stays: the
# cluster and Go caches live under it).
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
mkdir -p "$WORK/repos" "$WORK/work"
cp -r "$ROOT/packages" "$ROOT/bundles" "$ROOT/platform.yaml" "$ROOT/distro.lock" "$WORK/work/"

# flux_tree: flux/<release>/manifests.yaml from `distro render --out`, and
# flux/namespaces/namespaces.yaml with every release namespace.
flux_tree() {
	rm -rf "$WORK/work/flux" "$WORK/rendered"
	(cd "$WORK/work" && "$DISTRO" render --out "$WORK/rendered" >/dev/null) || die "distro render failed"
	python3 - "$WORK/rendered" "$WORK/work/flux" <<'EOF'
import json, os, shutil, sys
rendered, out = sys.argv[1], sys.argv[2]
index = json.load(open(os.path.join(rendered, "index.json")))
os.makedirs(os.path.join(out, "namespaces"))
with open(os.path.join(out, "namespaces", "namespaces.yaml"), "w") as f:
    for ns in sorted({r["namespace"] for r in index}):
        f.write(f"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
for r in index:
    os.makedirs(os.path.join(out, r["name"]))
    shutil.copy(os.path.join(rendered, r["name"] + ".yaml"), os.path.join(out, r["name"], "manifests.yaml"))
EOF
}
flux_tree
git init --quiet --bare "$WORK/repos/platform.git"
git -C "$WORK/repos/platform.git" symbolic-ref HEAD refs/heads/main
(cd "$WORK/work" && git init --quiet -b main && git_ add -A && git_ commit --quiet -m first &&
	git remote add origin "$WORK/repos/platform.git" && git push --quiet origin main)
FIRST=$(git -C "$WORK/work" rev-parse HEAD)
python3 "$ROOT/hack/bench/git-http.py" "$WORK/repos" "$WORK/git-http.port" 2>"$WORK/git-http.log" &
PIDS+=($!)
wait_for "the git HTTP server" test -s "$WORK/git-http.port"
URL=http://127.0.0.1:$(cat "$WORK/git-http.port")/platform.git
RELEASES=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/rendered/index.json")

# commit_change N: changes one release's values (the monitoring stack's
# retention), re-renders flux/, commits and pushes; prints the commit.
commit_change() {
	(cd "$WORK/work" &&
		sed -i -E "s/retentionPeriod: [0-9]+d/retentionPeriod: $((60 + $1))d/" platform.yaml) || return 1
	flux_tree
	(cd "$WORK/work" && git_ add -A && git_ commit --quiet -m "change $1" &&
		git push --quiet origin main && git rev-parse HEAD)
}

# ---------------------------------------------------------------------------
log "distro controller on a fresh cluster"
up distro
HOOK_PORT=$(free_port)
RUST_LOG=info "$DISTRO" controller --namespace distro-system --state-dir "$WORK/state" \
	--leader-elect=false --webhook-addr "127.0.0.1:$HOOK_PORT" \
	--metrics-addr 127.0.0.1:0 --health-addr 127.0.0.1:0 2>"$WORK/controller.log" &
CONTROLLER=$!
PIDS+=("$CONTROLLER")
crd_established() {
	[[ $("$KUBECTL" get crd "$1" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}') == True ]]
}
wait_for "the Platform CRD" crd_established platforms.distro.dev
TOKEN=bench-token-$RANDOM$RANDOM
"$KUBECTL" apply --server-side -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: distro-system}
---
apiVersion: v1
kind: Secret
metadata: {name: hook, namespace: distro-system}
stringData: {token: $TOKEN}
EOF
platform_at() {
	local out
	out=$("$KUBECTL" -n distro-system get platform cozy -o jsonpath='{.status.lastAppliedRevision} {.status.conditions[?(@.type=="Ready")].status}')
	[[ $out == "main@sha1:$1 True" ]]
}

log "distro: cold install"
t0=$(now_ns)
"$KUBECTL" apply --server-side -f - >/dev/null <<EOF
apiVersion: distro.dev/v1alpha1
kind: Platform
metadata: {name: cozy, namespace: distro-system}
spec:
  source:
    git: {url: "$URL"}
  interval: $INTERVAL
  webhook: {type: github, secretRef: {name: hook}}
EOF
wait_for "distro's cold install" platform_at "$FIRST"
D_COLD=$(secs "$t0" "$(now_ns)")
log "D_COLD=$D_COLD"

log "distro: idle for ${IDLE}s (polling every $INTERVAL)"
sleep 2
mark=$(lines)
sleep "$IDLE"
D_IDLE=$(requests "$mark" "$(lines)" distro/)
log "D_IDLE=$D_IDLE"

log "distro: push -> applied, polling"
SECOND=$(commit_change 1)
t0=$(now_ns)
wait_for "distro's poll-triggered apply" platform_at "$SECOND"
D_POLL=$(secs "$t0" "$(now_ns)")
log "D_POLL=$D_POLL"

log "distro: push -> applied, webhook"
THIRD=$(commit_change 2)
BODY='{"ref":"refs/heads/main"}'
SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$TOKEN" -r | cut -d' ' -f1)
HOOK_PATH=$("$KUBECTL" -n distro-system get platform cozy -o jsonpath='{.status.webhookPath}')
t0=$(now_ns)
curl -fsS --noproxy '*' -o /dev/null -X POST "http://127.0.0.1:$HOOK_PORT$HOOK_PATH" \
	-H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: sha256=$SIG" --data "$BODY" ||
	die "the webhook call failed"
wait_for "distro's webhook-triggered apply" platform_at "$THIRD"
D_HOOK=$(secs "$t0" "$(now_ns)")
log "D_HOOK=$D_HOOK"

log "distro: one forced no-op reconcile"
sleep 2
mark=$(lines)
STAMP=$(date +%s%N)
# What `distro reconcile platform` does, through kubectl, so that only the
# controller's requests carry distro's user agent.
"$KUBECTL" -n distro-system annotate --overwrite platform cozy "reconcile.distro.dev/requestedAt=$STAMP" >/dev/null
platform_handled() {
	local out
	out=$("$KUBECTL" -n distro-system get platform cozy -o jsonpath='{.status.lastHandledReconcileAt} {.status.conditions[?(@.type=="Ready")].status}')
	[[ $out == "$STAMP True" ]]
}
wait_for "distro's forced reconcile" platform_handled
sleep 1
D_NOOP=$(requests "$mark" "$(lines)" distro/)
log "D_NOOP=$D_NOOP"
D_RSS=$(hwm_kib "$CONTROLLER")
kill -TERM "$CONTROLLER"
wait "$CONTROLLER" 2>/dev/null || true
down distro

# ---------------------------------------------------------------------------
log "Flux on a fresh cluster"
up flux
"$KUBECTL" apply --server-side -f "$FLUX_DIR/crds" >/dev/null
for crd in gitrepositories.source.toolkit.fluxcd.io kustomizations.kustomize.toolkit.fluxcd.io; do
	wait_for "the $crd CRD" crd_established "$crd"
done
"$KUBECTL" create namespace flux-system >/dev/null
STORAGE_PORT=$(free_port)
mkdir -p "$WORK/flux-storage"
RUNTIME_NAMESPACE=flux-system "$FLUX_DIR/bin/source-controller" --watch-all-namespaces=true \
	--storage-path="$WORK/flux-storage" --storage-addr="127.0.0.1:$STORAGE_PORT" \
	--storage-adv-addr="127.0.0.1:$STORAGE_PORT" \
	--metrics-addr="127.0.0.1:$(free_port)" --health-addr="127.0.0.1:$(free_port)" \
	--log-level=info 2>"$WORK/source-controller.log" >&2 &
SOURCE=$!
PIDS+=("$SOURCE")
RUNTIME_NAMESPACE=flux-system "$FLUX_DIR/bin/kustomize-controller" --watch-all-namespaces=true \
	--metrics-addr="127.0.0.1:$(free_port)" --health-addr="127.0.0.1:$(free_port)" \
	--log-level=info 2>"$WORK/kustomize-controller.log" >&2 &
KUSTOMIZE=$!
PIDS+=("$KUSTOMIZE")

# The Kustomizations: one per release, the dependsOn edges of the graph.
"$DISTRO" graph -o json -p "$WORK/work/platform.yaml" >"$WORK/graph.json"
python3 - "$WORK/graph.json" "$URL" "$INTERVAL" >"$WORK/flux-objects.yaml" <<'EOF'
import json, sys
graph, url, interval = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
def ks(name, path, deps):
    d = "".join(f"\n    - name: {n}" for n in deps)
    return f"""---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: {name}, namespace: flux-system}}
spec:
  interval: 10m
  timeout: 5m
  path: ./flux/{path}
  prune: true
  wait: true
  sourceRef: {{kind: GitRepository, name: platform}}
  dependsOn:{d}
"""
print(f"""---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: platform, namespace: flux-system}}
spec:
  interval: {interval}
  url: {url}
  ref: {{branch: main}}""")
print(ks("namespaces", "namespaces", []).replace("  dependsOn:\n", ""))
for r in graph["releases"]:
    print(ks(r["name"], r["name"], ["namespaces"] + r["dependsOn"]))
EOF
# all_at SHA: every Kustomization Ready with lastAppliedRevision at SHA.
all_at() {
	local want="main@sha1:$1 True" n
	n=$("$KUBECTL" -n flux-system get kustomizations -o jsonpath='{range .items[*]}{.status.lastAppliedRevision} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
		grep -cxF "$want" || true)
	[[ $n -eq $((RELEASES + 1)) ]]
}

log "Flux: cold install"
# The distro run pushed two commits: Flux installs the repository as it is
# now, which differs from the first commit in one release's values.
HEAD_NOW=$(git -C "$WORK/work" rev-parse HEAD)
t0=$(now_ns)
"$KUBECTL" apply --server-side -f "$WORK/flux-objects.yaml" >/dev/null
wait_for "Flux's cold install" all_at "$HEAD_NOW"
F_COLD=$(secs "$t0" "$(now_ns)")
log "F_COLD=$F_COLD"

log "Flux: idle for ${IDLE}s (polling every $INTERVAL)"
sleep 2
mark=$(lines)
sleep "$IDLE"
F_IDLE=$(requests "$mark" "$(lines)" source-controller kustomize-controller)
log "F_IDLE=$F_IDLE"

log "Flux: push -> applied, polling"
FOURTH=$(commit_change 3)
t0=$(now_ns)
wait_for "Flux's poll-triggered apply" all_at "$FOURTH"
F_POLL=$(secs "$t0" "$(now_ns)")
log "F_POLL=$F_POLL"

log "Flux: one forced no-op reconcile"
sleep 2
mark=$(lines)
STAMP=$(date +%s%N)
"$KUBECTL" -n flux-system annotate --overwrite gitrepository/platform "reconcile.fluxcd.io/requestedAt=$STAMP" >/dev/null
"$KUBECTL" -n flux-system annotate --overwrite kustomizations --all "reconcile.fluxcd.io/requestedAt=$STAMP" >/dev/null
handled() {
	local n
	n=$("$KUBECTL" -n flux-system get kustomizations -o jsonpath='{range .items[*]}{.status.lastHandledReconcileAt} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
		grep -cxF "$STAMP True" || true)
	[[ $n -eq $((RELEASES + 1)) ]]
}
wait_for "Flux's forced reconcile" handled
sleep 1
F_NOOP=$(requests "$mark" "$(lines)" source-controller kustomize-controller)
log "F_NOOP=$F_NOOP"
F_RSS_SOURCE=$(hwm_kib "$SOURCE")
F_RSS_KUSTOMIZE=$(hwm_kib "$KUSTOMIZE")
F_RSS=$((F_RSS_SOURCE + F_RSS_KUSTOMIZE))
down flux

# ---------------------------------------------------------------------------
FLUX_VERSION=$(basename "$FLUX_DIR")
cat <<EOF

Default distribution ($RELEASES releases), local control plane, git over HTTP on 127.0.0.1
                                       distro        Flux $FLUX_VERSION     distro/Flux
  cold install                         ${D_COLD} s      ${F_COLD} s      $(ratio "$D_COLD" "$F_COLD")   (goal <= 0.5)
  push -> applied, polling $INTERVAL        ${D_POLL} s      ${F_POLL} s      $(ratio "$D_POLL" "$F_POLL")
  push -> applied, webhook             ${D_HOOK} s      -
  requests, one forced no-op reconcile ${D_NOOP}          ${F_NOOP}          $(ratio "$D_NOOP" "$F_NOOP")   (goal < 1)
  requests per minute, idle            $(awk -v n="$D_IDLE" -v s="$IDLE" 'BEGIN { printf "%.0f", n * 60 / s }')            $(awk -v n="$F_IDLE" -v s="$IDLE" 'BEGIN { printf "%.0f", n * 60 / s }')
  peak RSS (VmHWM)                     $(mib "$D_RSS") MiB     $(mib "$F_RSS") MiB   $(ratio "$D_RSS" "$F_RSS")   (goal <= 0.5; Flux: source $(mib "$F_RSS_SOURCE") + kustomize $(mib "$F_RSS_KUSTOMIZE"))

bench-flux: releases=$RELEASES distro_cold_s=$D_COLD flux_cold_s=$F_COLD cold_ratio=$(ratio "$D_COLD" "$F_COLD") distro_poll_s=$D_POLL flux_poll_s=$F_POLL distro_webhook_s=$D_HOOK distro_noop_requests=$D_NOOP flux_noop_requests=$F_NOOP distro_idle_requests=$D_IDLE flux_idle_requests=$F_IDLE idle_s=$IDLE distro_rss_kib=$D_RSS flux_rss_kib=$F_RSS rss_ratio=$(ratio "$D_RSS" "$F_RSS")
EOF

rc=0
awk -v d="$D_COLD" -v f="$F_COLD" 'BEGIN { exit !(d <= 0.5 * f) }' || rc=1
awk -v d="$D_RSS" -v f="$F_RSS" 'BEGIN { exit !(d <= 0.5 * f) }' || rc=1
((D_NOOP < F_NOOP)) || rc=1
exit "$rc"
