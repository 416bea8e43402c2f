#!/usr/bin/env bash
# The YAML 1.1 checker: hack/yaml11/, a small Go program that reads a YAML
# stream with kubectl's reader (sigs.k8s.io/yaml over go-yaml v2) and
# prints each document as one line of JSON. Tests feed distro's output
# through it to see what kubectl sees.
#
#   hack/yaml11.sh build    build it unless cached; print the binary's path
#   hack/yaml11.sh path     print where the binary is (built or not)
#
# The binary is cached under ${XDG_CACHE_HOME:-$HOME/.cache}/distro/yaml11/
# <sigs.k8s.io/yaml version>/ and rebuilt when hack/yaml11's sources change
# (a sha256 of them is kept beside it). Building needs Go and the Go module
# proxy (or a module cache that has the pinned modules).
#
# Exit codes: 0 ok, 2 usage, 3 Go is missing, 1 the build failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=$ROOT/hack/yaml11

die() { printf 'yaml11: %s\n' "$1" >&2; exit "${2:-1}"; }

version=$(awk '$1 == "require" && $2 == "sigs.k8s.io/yaml" { print $3 }' "$SRC/go.mod")
[[ -n $version ]] || die "no 'require sigs.k8s.io/yaml' line in $SRC/go.mod"
DIR=${XDG_CACHE_HOME:-$HOME/.cache}/distro/yaml11/$version
BIN=$DIR/yaml11

case ${1:-} in
path)
    echo "$BIN"
    exit 0
    ;;
build) ;;
*)
    echo "usage: $0 build|path" >&2
    exit 2
    ;;
esac

stamp=$(cd "$SRC" && cat go.mod go.sum ./*.go | sha256sum | cut -d' ' -f1)
if [[ -x $BIN && -f $DIR/source.sha256 && $(<"$DIR/source.sha256") == "$stamp" ]]; then
    echo "$BIN"
    exit 0
fi

command -v go >/dev/null 2>&1 ||
    die "Go is required to build the YAML 1.1 checker in hack/yaml11 (kubectl's YAML reader); install it from https://go.dev/dl/ and put 'go' on PATH" 3

mkdir -p "$DIR"
# Build beside the target and rename, so that concurrent builds (tests run
# in parallel, several checkouts share the cache) never see half a file.
tmp=$(mktemp "$DIR/yaml11.XXXXXX")
trap 'rm -f "$tmp" "$tmp.sha256"' EXIT
printf 'yaml11: building the YAML 1.1 checker (sigs.k8s.io/yaml %s) into %s\n' "$version" "$DIR" >&2
(cd "$SRC" && GOFLAGS=-mod=readonly go build -trimpath -o "$tmp" .) || die "go build in $SRC failed"
echo "$stamp" >"$tmp.sha256"
mv -f "$tmp" "$BIN"
mv -f "$tmp.sha256" "$DIR/source.sha256"
echo "$BIN"
