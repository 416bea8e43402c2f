#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine:
# formatting, lints, unit tests, integration tests (against a local
# control plane this script builds and starts), and the default
# distribution against its committed lock.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (https://rustup.rs)" >&2
  exit 1
fi
# rustfmt and clippy ship as rustup components; add them if missing.
if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

step "local cluster: etcd, kube-apiserver, controllers, kwok (built from Go modules, cached)"
bash hack/cluster.sh build
cluster_dir=$(mktemp -d "${TMPDIR:-/tmp}/distro-test-cluster.XXXXXX")
registry_dir=$(mktemp -d "${TMPDIR:-/tmp}/distro-test-registry.XXXXXX")
target_registry_dir=$(mktemp -d "${TMPDIR:-/tmp}/distro-test-registry-target.XXXXXX")
cleanup() {
  bash hack/registry.sh down "$registry_dir" >/dev/null 2>&1 || true
  bash hack/registry.sh down "$target_registry_dir" >/dev/null 2>&1 || true
  bash hack/cluster.sh down "$cluster_dir" >/dev/null 2>&1 || true
  rm -rf "$cluster_dir" "$registry_dir" "$target_registry_dir"
}
trap cleanup EXIT
bash hack/cluster.sh up "$cluster_dir" >/dev/null
export DISTRO_TEST_KUBECONFIG=$cluster_dir/kubeconfig

step "local registries: Debian's docker-registry on 127.0.0.1 (a source and a private target)"
# registry.sh installs the package when it is missing.
bash hack/registry.sh up "$registry_dir" >/dev/null
bash hack/registry.sh up "$target_registry_dir" >/dev/null
DISTRO_TEST_REGISTRY=$(cat "$registry_dir/addr")
DISTRO_TEST_REGISTRY_TARGET=$(cat "$target_registry_dir/addr")
export DISTRO_TEST_REGISTRY DISTRO_TEST_REGISTRY_TARGET

# The air-gap tests make ed25519 keys with openssl and read registry
# catalogs with curl, as users would.
for tool in openssl curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get install -y --no-install-recommends "$tool" >&2 ||
      { "${sudo[@]}" apt-get update >&2 && "${sudo[@]}" apt-get install -y --no-install-recommends "$tool" >&2; }
  fi
done

step "cargo test"
cargo test --all-targets --locked

step "default distribution is valid and its lock is current"
cargo run --quiet --locked -- validate --locked
