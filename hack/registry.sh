#!/usr/bin/env bash
# A local OCI registry on 127.0.0.1 for tests: Debian's docker-registry
# (the CNCF distribution registry) with a config file of its own, filesystem
# storage under DIR, and deletes enabled. The packaged service is never
# started: it would listen on every interface.
#
#   hack/registry.sh up DIR [HTPASSWD]   start a registry whose state lives
#                                        in DIR; with HTPASSWD (a bcrypt
#                                        htpasswd file) it requires Basic auth.
#                                        Writes DIR/addr (127.0.0.1:PORT) and
#                                        DIR/pid, prints the address.
#   hack/registry.sh down DIR            stop the process in DIR/pid
#
# Storage is DIR/data (blobs under DIR/data/docker/registry/v2/blobs).
set -euo pipefail

BIN=${DISTRO_REGISTRY_BIN:-/usr/bin/docker-registry}
START_TIMEOUT=${DISTRO_REGISTRY_START_TIMEOUT:-30}
STOP_TIMEOUT=${DISTRO_REGISTRY_STOP_TIMEOUT:-10}

log() { printf 'registry: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

abs_dir() {
	mkdir -p "$1"
	(cd "$1" && pwd -P)
}

now() { date +%s; }

install_registry() {
	[[ -x $BIN ]] && return 0
	log "installing Debian's docker-registry"
	local -a sudo=()
	[[ $(id -u) -eq 0 ]] || sudo=(sudo)
	# policy-rc.d 101 keeps the package's own service (listening on every
	# interface) from being started by the install.
	local policy=/usr/sbin/policy-rc.d created_policy=
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
		"${sudo[@]}" chmod +x "$policy"
		created_policy=1
	fi
	local rc=0
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-registry >&2 || {
		"${sudo[@]}" apt-get update >&2 &&
			"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-registry >&2
	} || rc=$?
	[[ -n $created_policy ]] && "${sudo[@]}" rm -f "$policy"
	((rc == 0)) || die "apt-get install docker-registry failed"
	# If the package's service started anyway, stop it: only our own
	# instances, on 127.0.0.1, may run.
	if command -v systemctl >/dev/null 2>&1; then
		"${sudo[@]}" systemctl disable --now docker-registry >/dev/null 2>&1 || true
	fi
	if [[ -x /etc/init.d/docker-registry ]]; then
		"${sudo[@]}" /etc/init.d/docker-registry stop >/dev/null 2>&1 || true
	fi
	[[ -x $BIN ]] || die "$BIN missing after install"
}

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
	local tries=0 port
	while ((tries++ < 1000)); do
		port=$((32000 + RANDOM % 8000))
		port_in_use "$port" || {
			echo "$port"
			return 0
		}
	done
	die "no free port found on 127.0.0.1"
}

# start_on DIR PORT AUTH: starts docker-registry on 127.0.0.1:PORT; returns 1
# when the port was taken meanwhile.
start_on() {
	local dir=$1 port=$2 auth=$3
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: distro-test-$port
$auth
EOF
	local -a launcher=()
	command -v setsid >/dev/null 2>&1 && launcher=(setsid)
	"${launcher[@]}" env -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u http_proxy -u https_proxy -u all_proxy \
		OTEL_TRACES_EXPORTER=none "$BIN" serve "$dir/config.yml" </dev/null >"$dir/registry.log" 2>&1 &
	local pid=$!
	echo "$pid" >"$dir/pid"
	local deadline=$(($(now) + START_TIMEOUT))
	# /v2/ answers 200, or 401 with auth on: either way it serves.
	until code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --noproxy '*' "http://127.0.0.1:$port/v2/") &&
		[[ $code == 200 || $code == 401 ]]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			grep -q 'address already in use' "$dir/registry.log" && return 1
			tail -n 20 "$dir/registry.log" >&2 || true
			die "docker-registry exited; log in $dir/registry.log"
		fi
		if (($(now) >= deadline)); then
			kill -TERM "$pid" 2>/dev/null || true
			die "docker-registry did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s"
		fi
		sleep 0.1
	done
	# Whatever answered, it must be this registry, not one that took the port.
	kill -0 "$pid" 2>/dev/null || return 1
}

cmd_up() {
	[[ $# -ge 1 && $# -le 2 ]] || usage
	local dir htpasswd=${2:-}
	dir=$(abs_dir "$1")
	if [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
		die "a registry already runs from $dir (pid $(cat "$dir/pid"))"
	fi
	install_registry
	mkdir -p "$dir/data"
	local auth=""
	if [[ -n $htpasswd ]]; then
		[[ -r $htpasswd ]] || die "cannot read $htpasswd"
		cp "$htpasswd" "$dir/htpasswd"
		auth=$(printf 'auth:\n  htpasswd:\n    realm: distro-test\n    path: %s\n' "$dir/htpasswd")
	fi
	# A port free when picked may be taken before the registry binds it
	# (tests start registries in parallel): then pick another, a few times.
	local port attempt
	for attempt in 1 2 3 4 5; do
		port=$(pick_port)
		start_on "$dir" "$port" "$auth" && break
		((attempt < 5)) || die "docker-registry found no free port; log in $dir/registry.log"
		log "127.0.0.1:$port was taken before docker-registry bound it; trying another port"
	done
	echo "127.0.0.1:$port" >"$dir/addr"
	log "started docker-registry on 127.0.0.1:$port (pid $(cat "$dir/pid"))"
	echo "127.0.0.1:$port"
}

cmd_down() {
	[[ $# -eq 1 ]] || usage
	[[ -d $1 ]] || die "$1 is not a directory"
	local dir pid
	dir=$(abs_dir "$1")
	[[ -f $dir/pid ]] || {
		log "nothing to stop: no $dir/pid"
		return 0
	}
	pid=$(cat "$dir/pid")
	[[ $pid =~ ^[0-9]+$ ]] || die "$dir/pid does not hold a pid"
	# Only the process started from this directory's config.
	if kill -0 "$pid" 2>/dev/null && tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$dir/config.yml"; then
		kill -TERM "$pid" 2>/dev/null || true
		local deadline=$(($(now) + STOP_TIMEOUT))
		while kill -0 "$pid" 2>/dev/null; do
			if (($(now) >= deadline)); then
				kill -KILL "$pid" 2>/dev/null || true
				break
			fi
			sleep 0.1
		done
	elif kill -0 "$pid" 2>/dev/null; then
		log "leaving pid $pid alone: it was not started from $dir/config.yml"
	fi
	mv -f "$dir/pid" "$dir/pid.stopped"
	log "stopped registry in $dir"
}

case ${1:-} in
up)
	shift
	cmd_up "$@"
	;;
down)
	shift
	cmd_down "$@"
	;;
*) usage ;;
esac
