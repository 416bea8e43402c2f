#!/usr/bin/env bash
# Functions run through traps and wait_for look unreachable to shellcheck.
# shellcheck disable=SC2317
# Local Kubernetes control plane on 127.0.0.1 for integration tests and
# benchmarks: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
# kwok (fake nodes and pods), all built from Go modules. See
# hack/cluster/README.md.
#
#   hack/cluster.sh build       build the binaries once (cached)
#   hack/cluster.sh up DIR      start a cluster whose state lives in DIR
#   hack/cluster.sh down DIR    stop the processes listed in DIR/pids
#   hack/cluster.sh ensure DIR  keep the cluster in DIR if it answers, else
#                               stop what is left of it and start it anew
#   hack/cluster.sh stop-apiserver DIR    stop only the kube-apiserver of DIR
#   hack/cluster.sh start-apiserver DIR   start it again with the same flags
#   hack/cluster.sh selftest    up, run workloads to Ready, down
set -euo pipefail

K8S_VERSION=v1.34.4
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.7.0

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODULES_DIR=$SCRIPT_DIR/cluster
CACHE_DIR=${DISTRO_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/distro/cluster/$K8S_VERSION}
BIN_DIR=$CACHE_DIR/bin
KUBECTL=${KUBECTL:-kubectl}

# Timeouts in seconds; each can be raised through the environment.
BUILD_LOCK_TIMEOUT=${DISTRO_CLUSTER_BUILD_LOCK_TIMEOUT:-3600}
START_TIMEOUT=${DISTRO_CLUSTER_START_TIMEOUT:-120}
STOP_TIMEOUT=${DISTRO_CLUSTER_STOP_TIMEOUT:-15}
APISERVER_STOP_TIMEOUT=${DISTRO_CLUSTER_APISERVER_STOP_TIMEOUT:-5}
SELFTEST_TIMEOUT=${DISTRO_CLUSTER_SELFTEST_TIMEOUT:-180}

NODE_COUNT=${DISTRO_CLUSTER_NODES:-3}
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1
POD_CIDR=10.0.0.1/16
KWOK_NODE_ANNOTATION=kwok.x-k8s.io/node
KWOK_NODE_VALUE=fake

log() { printf 'cluster: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	cat >&2 <<EOF
usage: $0 COMMAND [DIR]

  build       build etcd, kube-apiserver, kube-controller-manager,
              kube-scheduler and kwok into $BIN_DIR
  up DIR      start a cluster in DIR (kubeconfig, pids, logs, audit.log);
              prints 'export KUBECONFIG=DIR/kubeconfig'
  down DIR    stop the processes listed in DIR/pids
  ensure DIR  reuse the cluster in DIR when it answers /readyz; otherwise
              stop whatever still runs from DIR, delete DIR, start anew
  stop-apiserver DIR
              stop only the kube-apiserver (SIGTERM, SIGKILL after 5 s); etcd
              and the other components keep running
  start-apiserver DIR
              start the kube-apiserver again with the flags 'up' recorded in
              DIR/kube-apiserver.cmd; its audit events are appended to
              DIR/audit.log
  selftest    start a cluster in a temporary directory, bring a Deployment,
              DaemonSet, StatefulSet and Job to Ready, stop it

Versions: Kubernetes $K8S_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION.
EOF
	exit 2
}

now() { date +%s; }

# abs_dir DIR: the physical absolute path of DIR (created if missing); up and
# down both use it, so the pids they compare against process command lines
# name the directory the same way.
abs_dir() {
	mkdir -p "$1"
	(cd "$1" && pwd -P)
}

find_go() {
	if [[ -n ${GO:-} ]]; then
		echo "$GO"
	elif command -v go >/dev/null 2>&1; then
		command -v go
	elif [[ -x /usr/local/go/bin/go ]]; then
		echo /usr/local/go/bin/go
	else
		die "no Go toolchain found (set GO=/path/to/go)"
	fi
}

# ---------------------------------------------------------------------------
# build

# Go builds run with an explicit environment so that a user's GOFLAGS or a
# toolchain switch cannot change what gets built.
go_env() {
	env CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local GOWORK=off "$@"
}

# stamp_key COMPONENT: identifies everything a component's build depends on.
stamp_key() {
	local component=$1 go=$2
	{
		echo "$component $K8S_VERSION $ETCD_VERSION $KWOK_VERSION"
		"$go" version
		cat "$MODULES_DIR/$component"/go.mod "$MODULES_DIR/$component"/go.sum "$MODULES_DIR/$component"/*.go
		declare -f build_component
	} | sha256sum | cut -d' ' -f1
}

component_bins() {
	case $1 in
	etcd) echo etcd ;;
	k8s) echo kube-apiserver kube-controller-manager kube-scheduler ;;
	kwok) echo kwok ;;
	*) die "unknown component $1" ;;
	esac
}

is_built() {
	local component=$1 key=$2 stamp=$BIN_DIR/.stamp-$1 bin
	[[ -f $stamp && $(cat "$stamp") == "$key" ]] || return 1
	for bin in $(component_bins "$component"); do
		[[ -x $BIN_DIR/$bin ]] || return 1
	done
}

build_component() {
	local component=$1 go=$2 out=$3
	local ldflags="-s -w"
	local -a pkgs
	case $component in
	etcd)
		pkgs=(.)
		out=$out/etcd
		;;
	k8s)
		local minor=${K8S_VERSION#v1.}
		minor=${minor%%.*}
		local v
		for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			ldflags+=" -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
			ldflags+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
		done
		pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler)
		out=$out/
		;;
	kwok)
		pkgs=(sigs.k8s.io/kwok/cmd/kwok)
		out=$out/kwok
		;;
	esac
	(cd "$MODULES_DIR/$component" && go_env "$go" build -trimpath -ldflags "$ldflags" -o "$out" "${pkgs[@]}")
}

cmd_build() {
	local go component key tmp start bin
	go=$(find_go)
	mkdir -p "$BIN_DIR"
	exec 9>"$CACHE_DIR/build.lock"
	if ! flock -w "$BUILD_LOCK_TIMEOUT" 9; then
		die "another build holds $CACHE_DIR/build.lock for more than ${BUILD_LOCK_TIMEOUT}s"
	fi
	for component in etcd k8s kwok; do
		key=$(stamp_key "$component" "$go")
		if is_built "$component" "$key"; then
			log "$component: cached in $BIN_DIR"
			continue
		fi
		rm -f "$BIN_DIR/.stamp-$component"
		tmp=$(mktemp -d "$CACHE_DIR/build.XXXXXX")
		start=$(now)
		log "$component: building ($(component_bins "$component" | tr ' ' ',')) with $("$go" env GOVERSION)..."
		if ! build_component "$component" "$go" "$tmp"; then
			rm -rf "$tmp"
			die "$component: go build failed"
		fi
		for bin in $(component_bins "$component"); do
			mv -f "$tmp/$bin" "$BIN_DIR/$bin"
		done
		rm -rf "$tmp"
		echo "$key" >"$BIN_DIR/.stamp-$component"
		log "$component: built in $(($(now) - start))s"
	done
	exec 9>&-
}

require_built() {
	local go component
	go=$(find_go)
	for component in etcd k8s kwok; do
		is_built "$component" "$(stamp_key "$component" "$go")" ||
			die "$component is not built (or is stale) in $BIN_DIR: run '$0 build' first"
	done
}

# ---------------------------------------------------------------------------
# up

# port_in_use PORT: something accepts connections on 127.0.0.1:PORT.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pick_ports N: N distinct ports that nothing listens on, from a range below
# the kernel's ephemeral range so outgoing connections do not take them.
pick_ports() {
	local n=$1 tries=0 port
	local -a ports=()
	while ((${#ports[@]} < n)); do
		((tries++ < 1000)) || die "no free port found on 127.0.0.1"
		port=$((20000 + RANDOM % 12000))
		[[ " ${ports[*]} " == *" $port "* ]] && continue
		port_in_use "$port" && continue
		ports+=("$port")
	done
	echo "${ports[@]}"
}

gen_key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# gen_ca PKI NAME CN: self-signed NAME.key and NAME.crt.
gen_ca() {
	local pki=$1 name=$2 cn=$3
	gen_key "$pki/$name.key"
	openssl req -x509 -new -key "$pki/$name.key" -subj "/CN=$cn" -days 3650 -sha256 \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign,cRLSign" \
		-out "$pki/$name.crt" 2>/dev/null
}

# gen_cert PKI CA NAME SUBJECT EXTENSIONS: NAME.key and NAME.crt signed by CA.
gen_cert() {
	local pki=$1 ca=$2 name=$3 subject=$4 ext=$5
	gen_key "$pki/$name.key"
	openssl req -new -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr" 2>/dev/null
	printf '%s\n' "$ext" >"$pki/$name.ext"
	openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.crt" -CAkey "$pki/$ca.key" -CAcreateserial \
		-days 3650 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
	rm -f "$pki/$name.csr" "$pki/$name.ext"
}

gen_pki() {
	local pki=$1
	local client="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
	mkdir -p "$pki"
	gen_ca "$pki" ca distro-test-ca
	gen_ca "$pki" front-proxy-ca distro-test-front-proxy-ca
	gen_cert "$pki" ca apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,IP:$SERVICE_IP,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	gen_cert "$pki" ca admin "/O=system:masters/CN=admin" "$client"
	gen_cert "$pki" ca controller-manager "/CN=system:kube-controller-manager" "$client"
	gen_cert "$pki" ca scheduler "/CN=system:kube-scheduler" "$client"
	gen_cert "$pki" ca kwok "/O=system:masters/CN=kwok" "$client"
	gen_cert "$pki" front-proxy-ca front-proxy-client "/CN=front-proxy-client" "$client"
	gen_key "$pki/sa.key"
	openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
	chmod 600 "$pki"/*.key
}

# write_kubeconfig FILE SERVER USER PKI CERTNAME
write_kubeconfig() {
	local file=$1 server=$2 user=$3 pki=$4 cert=$5
	cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: distro-test
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$pki/$cert.crt")
    client-key-data: $(base64 -w0 <"$pki/$cert.key")
contexts:
- name: distro-test
  context:
    cluster: distro-test
    user: $user
    namespace: default
current-context: distro-test
EOF
	chmod 600 "$file"
}

write_audit_policy() {
	cat >"$1" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - RequestReceived
rules:
  - level: Metadata
EOF
}

write_kwok_config() {
	cat >"$1" <<'EOF'
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options: {}
EOF
}

node_manifest() {
	local i name
	for ((i = 0; i < NODE_COUNT; i++)); do
		name=kwok-node-$i
		cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations:
    $KWOK_NODE_ANNOTATION: $KWOK_NODE_VALUE
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: $name
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
spec: {}
status:
  allocatable:
    cpu: "64"
    memory: 256Gi
    pods: "1000"
    ephemeral-storage: 1Ti
  capacity:
    cpu: "64"
    memory: 256Gi
    pods: "1000"
    ephemeral-storage: 1Ti
  nodeInfo:
    architecture: amd64
    kubeletVersion: $K8S_VERSION
    operatingSystem: linux
EOF
	done
}

# start NAME CMD...: runs CMD in the background in its own session, logging to
# logs/NAME.log (appended: a component started again keeps its earlier
# lines), and records its pid in DIR/pids and DIR/NAME.pid.
start() {
	local name=$1
	shift
	local -a launcher=()
	command -v setsid >/dev/null 2>&1 && launcher=(setsid)
	# No proxy settings reach the components: everything they talk to is on
	# 127.0.0.1, and nothing may leave the machine through a proxy.
	"${launcher[@]}" env -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u http_proxy -u https_proxy -u all_proxy \
		NO_PROXY='*' no_proxy='*' "$@" </dev/null >>"$DIR/logs/$name.log" 2>&1 6>&- 7>&- 8>&- 9>&- &
	local pid=$!
	echo "$pid" >>"$DIR/pids"
	echo "$pid" >"$DIR/$name.pid"
	PROC_NAMES+=("$name")
	PROC_PIDS+=("$pid")
	log "started $name (pid $pid)"
}

# check_alive: fails, showing the log, if a started process has exited.
check_alive() {
	local i
	for i in "${!PROC_PIDS[@]}"; do
		if ! kill -0 "${PROC_PIDS[$i]}" 2>/dev/null; then
			log "${PROC_NAMES[$i]} exited; last lines of $DIR/logs/${PROC_NAMES[$i]}.log:"
			tail -n 15 "$DIR/logs/${PROC_NAMES[$i]}.log" >&2 || true
			return 1
		fi
	done
}

# wait_for DESCRIPTION TIMEOUT CMD...: polls CMD until it succeeds.
wait_for() {
	local what=$1 timeout=$2 deadline
	shift 2
	deadline=$(($(now) + timeout))
	until "$@" >/dev/null 2>&1; do
		check_alive || return 1
		if (($(now) >= deadline)); then
			log "timed out after ${timeout}s waiting for $what"
			return 1
		fi
		sleep 0.2
	done
}

kc() { "$KUBECTL" --kubeconfig "$DIR/kubeconfig" "$@"; }

# kcq: kc for polling, where no single request may hang.
kcq() { kc --request-timeout=10s "$@"; }

http_ok() { curl -fsS --max-time 2 "$@"; }

up_failed() {
	trap - ERR INT TERM
	# The trap may run inside a command whose stderr goes to /dev/null.
	exec 2>&7
	log "startup failed; logs are in $DIR/logs; stopping what was started"
	cmd_down "$DIR" || true
	exit 1
}

cmd_up() {
	[[ $# -eq 1 ]] || usage
	if ! command -v openssl >/dev/null 2>&1 && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
		log "installing openssl"
		apt-get update -qq >/dev/null && apt-get install -y -qq openssl >/dev/null
	fi
	command -v openssl >/dev/null 2>&1 || die "openssl not found (apt-get install -y openssl)"
	command -v curl >/dev/null 2>&1 || die "curl not found (apt-get install -y curl)"
	command -v "$KUBECTL" >/dev/null 2>&1 || die "kubectl not found (set KUBECTL=/path/to/kubectl)"
	require_built
	DIR=$(abs_dir "$1")
	# Two 'up's on one DIR would overwrite each other's pids and credentials.
	exec 6>"$DIR/.up.lock"
	flock -n 6 || die "another '$0 up' is running on $DIR"
	if [[ -s $DIR/pids ]]; then
		local pid
		while read -r pid; do
			[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
				die "$DIR/pids lists running process $pid: run '$0 down $DIR' first"
		done <"$DIR/pids"
	fi
	local t0
	t0=$(now)
	exec 7>&2
	rm -rf "$DIR/pki" "$DIR/etcd" "$DIR/logs" "$DIR/kwok" "$DIR/pids" "$DIR"/*.pid "$DIR"/audit*.log
	mkdir -p "$DIR/logs" "$DIR/kwok"
	: >"$DIR/pids"
	PROC_NAMES=()
	PROC_PIDS=()

	gen_pki "$DIR/pki"
	local pki=$DIR/pki
	write_audit_policy "$DIR/audit-policy.yaml"
	write_kwok_config "$DIR/kwok/kwok.yaml"

	# Ports are chosen and bound under a lock so that clusters started at the
	# same time do not pick the same ones.
	local lock=/tmp/distro-cluster-ports.lock
	exec 8>"$lock"
	flock -w "$START_TIMEOUT" 8 || die "could not take $lock within ${START_TIMEOUT}s"
	trap up_failed ERR INT TERM
	local etcd_port etcd_peer_port api_port kcm_port sched_port
	read -r etcd_port etcd_peer_port api_port kcm_port sched_port <<<"$(pick_ports 5)"
	local server=https://127.0.0.1:$api_port

	write_kubeconfig "$DIR/kubeconfig" "$server" admin "$pki" admin
	write_kubeconfig "$DIR/controller-manager.kubeconfig" "$server" system:kube-controller-manager "$pki" controller-manager
	write_kubeconfig "$DIR/scheduler.kubeconfig" "$server" system:kube-scheduler "$pki" scheduler
	write_kubeconfig "$DIR/kwok.kubeconfig" "$server" kwok "$pki" kwok

	start etcd "$BIN_DIR/etcd" \
		--name=default \
		--data-dir="$DIR/etcd" \
		--listen-client-urls="http://127.0.0.1:$etcd_port" \
		--advertise-client-urls="http://127.0.0.1:$etcd_port" \
		--listen-peer-urls="http://127.0.0.1:$etcd_peer_port" \
		--initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
		--initial-cluster="default=http://127.0.0.1:$etcd_peer_port" \
		--initial-cluster-state=new \
		--unsafe-no-fsync=true \
		--log-level=warn
	wait_for "etcd on 127.0.0.1:$etcd_port" "$START_TIMEOUT" http_ok "http://127.0.0.1:$etcd_port/health"

	# Recorded so that start-apiserver can start it again exactly as here.
	# The audit log is never rotated (a max size of 0 means lumberjack's
	# default of 100 MB, not "unlimited"): tests and benchmarks count lines
	# of the one file.
	local -a apiserver=("$BIN_DIR/kube-apiserver"
		--bind-address=127.0.0.1
		--advertise-address=127.0.0.1
		--endpoint-reconciler-type=none
		--secure-port="$api_port"
		--etcd-servers="http://127.0.0.1:$etcd_port"
		--tls-cert-file="$pki/apiserver.crt"
		--tls-private-key-file="$pki/apiserver.key"
		--client-ca-file="$pki/ca.crt"
		--requestheader-client-ca-file="$pki/front-proxy-ca.crt"
		--requestheader-allowed-names=front-proxy-client
		--requestheader-username-headers=X-Remote-User
		--requestheader-group-headers=X-Remote-Group
		--requestheader-extra-headers-prefix=X-Remote-Extra-
		--proxy-client-cert-file="$pki/front-proxy-client.crt"
		--proxy-client-key-file="$pki/front-proxy-client.key"
		--service-account-issuer=https://kubernetes.default.svc.cluster.local
		--service-account-key-file="$pki/sa.pub"
		--service-account-signing-key-file="$pki/sa.key"
		--service-cluster-ip-range="$SERVICE_CIDR"
		--authorization-mode=RBAC
		--allow-privileged=true
		--disable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook
		--audit-policy-file="$DIR/audit-policy.yaml"
		--audit-log-path="$DIR/audit.log"
		--audit-log-mode=blocking
		--audit-log-format=json
		--audit-log-maxsize=1048576
		--profiling=false
		--v=1)
	printf '%s\0' "${apiserver[@]}" >"$DIR/kube-apiserver.cmd"
	start kube-apiserver "${apiserver[@]}"
	# The controller manager exits when it starts before the apiserver has
	# bootstrapped its RBAC roles: wait for /readyz first.
	wait_for "kube-apiserver /readyz on 127.0.0.1:$api_port" "$START_TIMEOUT" kcq get --raw /readyz

	start kube-controller-manager "$BIN_DIR/kube-controller-manager" \
		--kubeconfig="$DIR/controller-manager.kubeconfig" \
		--authentication-kubeconfig="$DIR/controller-manager.kubeconfig" \
		--authorization-kubeconfig="$DIR/controller-manager.kubeconfig" \
		--bind-address=127.0.0.1 \
		--secure-port="$kcm_port" \
		--leader-elect=false \
		--use-service-account-credentials=true \
		--controllers='*,-node-ipam-controller' \
		--cluster-signing-cert-file="$pki/ca.crt" \
		--cluster-signing-key-file="$pki/ca.key" \
		--root-ca-file="$pki/ca.crt" \
		--service-account-private-key-file="$pki/sa.key" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--kube-api-qps=200 \
		--kube-api-burst=400 \
		--profiling=false \
		--v=1
	start kube-scheduler "$BIN_DIR/kube-scheduler" \
		--kubeconfig="$DIR/scheduler.kubeconfig" \
		--authentication-kubeconfig="$DIR/scheduler.kubeconfig" \
		--authorization-kubeconfig="$DIR/scheduler.kubeconfig" \
		--bind-address=127.0.0.1 \
		--secure-port="$sched_port" \
		--leader-elect=false \
		--profiling=false \
		--v=1
	# kwok reads ~/.kwok/kwok.yaml when it exists: give it a HOME of its own so
	# only the configuration written here applies.
	start kwok env HOME="$DIR/kwok" "$BIN_DIR/kwok" \
		--config="$DIR/kwok/kwok.yaml" \
		--kubeconfig="$DIR/kwok.kubeconfig" \
		--manage-all-nodes=false \
		--manage-nodes-with-annotation-selector="$KWOK_NODE_ANNOTATION=$KWOK_NODE_VALUE" \
		--cidr="$POD_CIDR" \
		--node-ip=127.0.0.1 \
		--node-lease-duration-seconds=40

	wait_for "kube-controller-manager on 127.0.0.1:$kcm_port" "$START_TIMEOUT" port_in_use "$kcm_port"
	wait_for "kube-scheduler on 127.0.0.1:$sched_port" "$START_TIMEOUT" port_in_use "$sched_port"
	flock -u 8
	exec 8>&-

	wait_for "kube-controller-manager /healthz" "$START_TIMEOUT" http_ok -k "https://127.0.0.1:$kcm_port/healthz"
	wait_for "kube-scheduler /healthz" "$START_TIMEOUT" http_ok -k "https://127.0.0.1:$sched_port/healthz"
	wait_for "namespace default" "$START_TIMEOUT" kcq get namespace default
	wait_for "serviceaccount default/default" "$START_TIMEOUT" kcq -n default get serviceaccount default

	node_manifest | kcq apply -f - >/dev/null
	wait_for "$NODE_COUNT Ready nodes" "$START_TIMEOUT" \
		kcq wait --for=condition=Ready node -l type=kwok --timeout=5s
	trap - ERR INT TERM

	cat >"$DIR/cluster.env" <<EOF
KUBECONFIG=$DIR/kubeconfig
KUBE_APISERVER=$server
ETCD_ENDPOINT=http://127.0.0.1:$etcd_port
AUDIT_LOG=$DIR/audit.log
EOF
	log "cluster up in $(($(now) - t0))s: $server (state in $DIR)"
	printf 'export KUBECONFIG=%q\n' "$DIR/kubeconfig"
}

# ---------------------------------------------------------------------------
# down

# ours PID: the process is alive and was started for this DIR (guards against
# a pid that has been reused since).
ours() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || return 1
	[[ -r /proc/$pid/cmdline ]] || return 0
	tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/"
}

# stop_pids PID...: TERM, then KILL whatever is still running after
# STOP_TIMEOUT seconds.
stop_pids() {
	local -a live=() still=()
	local pid deadline
	for pid in "$@"; do
		if ours "$pid"; then
			kill -TERM "$pid" 2>/dev/null || true
			live+=("$pid")
		elif kill -0 "$pid" 2>/dev/null; then
			log "leaving pid $pid alone: its command line does not mention $DIR/"
		fi
	done
	deadline=$(($(now) + STOP_TIMEOUT))
	while ((${#live[@]} > 0)); do
		still=()
		for pid in "${live[@]}"; do
			kill -0 "$pid" 2>/dev/null && still+=("$pid")
		done
		live=("${still[@]}")
		((${#live[@]} == 0)) && return 0
		if (($(now) >= deadline)); then
			log "killing pids still running ${STOP_TIMEOUT}s after SIGTERM: ${live[*]}"
			for pid in "${live[@]}"; do
				kill -KILL "$pid" 2>/dev/null || true
			done
			deadline=$(($(now) + 5))
			while :; do
				still=()
				for pid in "${live[@]}"; do
					kill -0 "$pid" 2>/dev/null && still+=("$pid")
				done
				((${#still[@]} == 0)) && return 0
				(($(now) >= deadline)) && die "pids still running after SIGKILL: ${still[*]}"
				sleep 0.1
			done
		fi
		sleep 0.1
	done
}

cmd_down() {
	[[ $# -eq 1 ]] || usage
	[[ -d $1 ]] || die "$1 is not a directory"
	DIR=$(abs_dir "$1")
	if [[ ! -f $DIR/pids ]]; then
		log "nothing to stop: no $DIR/pids"
		return 0
	fi
	local -a pids=()
	mapfile -t pids < <(grep -E '^[0-9]+$' "$DIR/pids" || true)
	# etcd is listed first: stop everything else before it, so that the
	# apiserver can still reach etcd while it shuts down.
	if ((${#pids[@]} > 1)); then
		stop_pids "${pids[@]:1}"
	fi
	if ((${#pids[@]} > 0)); then
		stop_pids "${pids[0]}"
	fi
	mv -f "$DIR/pids" "$DIR/pids.stopped"
	log "stopped cluster in $DIR"
}

# ---------------------------------------------------------------------------
# ensure

cmd_ensure() {
	[[ $# -eq 1 ]] || usage
	local dir=$1
	if [[ -f $dir/kubeconfig ]] && "$KUBECTL" --kubeconfig "$dir/kubeconfig" --request-timeout=5s get --raw /readyz >/dev/null 2>&1; then
		log "reusing the cluster in $dir"
		printf 'export KUBECONFIG=%q\n' "$(abs_dir "$dir")/kubeconfig"
		return 0
	fi
	# A cluster that stopped answering may still have processes running from
	# this directory: stop them first, or deleting it would orphan them
	# (holding ports and the etcd data the next 'up' needs).
	if [[ -d $dir ]]; then
		(cmd_down "$dir")
		rm -rf "$dir"
	fi
	cmd_up "$dir"
}

# ---------------------------------------------------------------------------
# stop-apiserver / start-apiserver: the API server going away and coming back
# while etcd and its clients keep running, as in a control plane upgrade.

cmd_stop_apiserver() {
	[[ $# -eq 1 ]] || usage
	[[ -d $1 ]] || die "$1 is not a directory"
	DIR=$(abs_dir "$1")
	[[ -s $DIR/kube-apiserver.pid ]] || die "no $DIR/kube-apiserver.pid: was the cluster started with '$0 up'?"
	local pid
	pid=$(cat "$DIR/kube-apiserver.pid")
	[[ $pid =~ ^[0-9]+$ ]] || die "$DIR/kube-apiserver.pid does not hold a pid"
	ours "$pid" || die "kube-apiserver (pid $pid) of $DIR is not running"
	# It stops listening at once on SIGTERM, then can take a while in its
	# shutdown hooks (with etcd still up): a short grace before SIGKILL.
	STOP_TIMEOUT=$APISERVER_STOP_TIMEOUT stop_pids "$pid"
	log "stopped kube-apiserver (pid $pid)"
}

cmd_start_apiserver() {
	[[ $# -eq 1 ]] || usage
	[[ -d $1 ]] || die "$1 is not a directory"
	DIR=$(abs_dir "$1")
	[[ -s $DIR/kube-apiserver.cmd ]] || die "no $DIR/kube-apiserver.cmd: was the cluster started with '$0 up'?"
	if [[ -s $DIR/kube-apiserver.pid ]] && ours "$(cat "$DIR/kube-apiserver.pid")"; then
		die "kube-apiserver of $DIR is running already"
	fi
	local -a apiserver=()
	mapfile -d '' -t apiserver <"$DIR/kube-apiserver.cmd"
	((${#apiserver[@]} > 1)) || die "$DIR/kube-apiserver.cmd is empty"
	PROC_NAMES=()
	PROC_PIDS=()
	local t0
	t0=$(now)
	start kube-apiserver "${apiserver[@]}"
	wait_for "kube-apiserver /readyz" "$START_TIMEOUT" kcq get --raw /readyz ||
		die "kube-apiserver did not become ready; see $DIR/logs/kube-apiserver.log"
	log "kube-apiserver ready again in $(($(now) - t0))s"
}

# ---------------------------------------------------------------------------
# selftest

selftest_manifest() {
	cat <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: selftest-deploy
spec:
  replicas: 2
  selector:
    matchLabels: {app: selftest-deploy}
  template:
    metadata:
      labels: {app: selftest-deploy}
    spec:
      containers:
      - name: app
        image: registry.k8s.io/pause:3.10
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: selftest-ds
spec:
  selector:
    matchLabels: {app: selftest-ds}
  template:
    metadata:
      labels: {app: selftest-ds}
    spec:
      containers:
      - name: app
        image: registry.k8s.io/pause:3.10
---
apiVersion: v1
kind: Service
metadata:
  name: selftest-sts
spec:
  clusterIP: None
  selector: {app: selftest-sts}
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: selftest-sts
spec:
  serviceName: selftest-sts
  replicas: 2
  selector:
    matchLabels: {app: selftest-sts}
  template:
    metadata:
      labels: {app: selftest-sts}
    spec:
      containers:
      - name: app
        image: registry.k8s.io/pause:3.10
---
apiVersion: batch/v1
kind: Job
metadata:
  name: selftest-job
spec:
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: app
        image: registry.k8s.io/busybox:1.36
        command: ["true"]
EOF
}

cmd_selftest() {
	local dir t0
	dir=$(mktemp -d "${TMPDIR:-/tmp}/distro-cluster-selftest.XXXXXX")
	# shellcheck disable=SC2064
	trap "selftest_cleanup \$? '$dir'" EXIT
	t0=$(now)
	cmd_build
	# Not in a '||' list: that would disable errexit and the ERR trap in up.
	cmd_up "$dir" >/dev/null
	DIR=$dir
	log "selftest: cluster up in $(($(now) - t0))s (including build check)"
	selftest_manifest | kc apply -f - >&2
	local t=$SELFTEST_TIMEOUT
	kc rollout status deployment/selftest-deploy --timeout="${t}s" >&2
	kc rollout status daemonset/selftest-ds --timeout="${t}s" >&2
	kc rollout status statefulset/selftest-sts --timeout="${t}s" >&2
	kc wait --for=condition=complete job/selftest-job --timeout="${t}s" >&2
	local ready
	ready=$(kc get daemonset selftest-ds -o 'jsonpath={.status.numberReady}')
	[[ $ready == "$NODE_COUNT" ]] || die "daemonset has $ready ready pods, want $NODE_COUNT"
	grep -q '"verb":"create"' "$DIR/audit.log" || die "audit log has no create events"
	kc get nodes,pods -o wide >&2
	log "selftest: all workloads ready in $(($(now) - t0))s"
	echo OK
}

selftest_cleanup() {
	local rc=$1 dir=$2
	cmd_down "$dir" || true
	if [[ $rc -eq 0 ]]; then
		rm -rf "$dir"
	else
		log "selftest failed; state and logs kept in $dir"
	fi
}

# ---------------------------------------------------------------------------

main() {
	[[ $# -ge 1 ]] || usage
	local cmd=$1
	shift
	case $cmd in
	build) [[ $# -eq 0 ]] || usage && cmd_build ;;
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	ensure) cmd_ensure "$@" ;;
	stop-apiserver) cmd_stop_apiserver "$@" ;;
	start-apiserver) cmd_start_apiserver "$@" ;;
	selftest) [[ $# -eq 0 ]] || usage && cmd_selftest ;;
	-h | --help | help) usage ;;
	*) usage ;;
	esac
}

main "$@"
exit
