#!/usr/bin/env bash
# Builds Flux's source-controller and kustomize-controller from their Go
# modules (fetched through the Go module proxy, nothing of theirs is kept in
# this repository) into ~/.cache/distro/flux/<version>/bin, once, and copies
# their CRDs (config/crd/bases) to ~/.cache/distro/flux/<version>/crds.
#
#   hack/bench/flux-build.sh            prints the version's directory
#
# FLUX_VERSION chooses the controllers' version (both are released with the
# same numbers); the default is the newest whose go.mod the machine's Go
# (1.26) builds: v1.10 asks for Go 1.27.
#
# Both modules point their own `api` module at ./api with a replace
# directive, and the module proxy's zip leaves nested modules out: the build
# copies the module, drops that replace and takes the published api module
# of the version go.mod requires, verified against the checksum database.
#
# A dependency version the module proxy does not serve (it answers 403) is
# pinned to the nearest one it does, in PINS below; each pin is a patch
# release of the same minor version.
set -euo pipefail

VERSION=${FLUX_VERSION:-v1.9.6}
CACHE=${DISTRO_FLUX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/distro/flux}
BIN=$CACHE/$VERSION/bin

log() { printf 'flux-build: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 2
}

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[[ -x $GO ]] || die "no Go toolchain (set GO=/path/to/go)"

# Dependency pins per module@version: "path@version ...".
declare -A PINS=(
	[source-controller@v1.9.6]="github.com/fluxcd/pkg/artifact@v0.18.0"
)

# build MODULE VERSION NAME: $BIN/NAME from github.com/fluxcd/MODULE@VERSION.
build() {
	local module=github.com/fluxcd/$1 version=$2 name=$3 dir work pin
	[[ -x $BIN/$name && -d $CACHE/$VERSION/crds ]] && return 0
	log "$name: downloading $module@$version"
	dir=$(GOFLAGS=-mod=mod GOTOOLCHAIN=local "$GO" mod download -json "$module@$version" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error","no Dir")))') ||
		die "$module@$version cannot be downloaded with $("$GO" env GOVERSION)"
	work=$(mktemp -d "$CACHE/build.XXXXXX")
	cp -r "$dir/." "$work/"
	chmod -R u+w "$work"
	local start=$SECONDS
	log "$name: building with $("$GO" env GOVERSION) (a few minutes)"
	(
		cd "$work"
		"$GO" mod edit -dropreplace="$module/api"
		for pin in ${PINS[$1@$version]:-}; do
			log "$name: pinning $pin (the module proxy does not serve the version go.mod asks for)"
			"$GO" mod edit -require="$pin"
		done
		env CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" \
			"$GO" build -trimpath -ldflags "-s -w" -o "$work/$name" .
	) || {
		rm -rf "$work"
		die "$name: go build failed"
	}
	mkdir -p "$BIN"
	mv -f "$work/$name" "$BIN/$name"
	# The CRDs, for the benchmark to apply.
	mkdir -p "$CACHE/$VERSION/crds"
	cp -f "$dir"/config/crd/bases/*.yaml "$CACHE/$VERSION/crds/"
	# The module cache is read-only; the copies need not be.
	chmod u+w "$CACHE/$VERSION"/crds/*.yaml
	rm -rf "$work"
	log "$name: built in $((SECONDS - start))s"
}

mkdir -p "$CACHE"
exec 9>"$CACHE/build.lock"
flock -w 3600 9 || die "another build holds $CACHE/build.lock"
build source-controller "$VERSION" source-controller
build kustomize-controller "$VERSION" kustomize-controller
echo "$CACHE/$VERSION"
