#!/usr/bin/env bash
# The main job on the default distribution: start a local control plane
# (etcd, kube-apiserver, controllers and kwok's fake nodes, built from Go
# modules and cached), install the default distribution into it with
# `distro apply`, and show the release table.
#
# The cluster keeps running so you can look around:
#   export KUBECONFIG=.cluster/kubeconfig; kubectl get releases -A
# Stop it with: bash hack/cluster.sh down .cluster
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${DISTRO_DEMO_CLUSTER:-.cluster}
cargo build --release --quiet
bash hack/cluster.sh build
if ! [[ -f $dir/kubeconfig ]] || ! KUBECONFIG=$dir/kubeconfig kubectl get --raw /readyz >/dev/null 2>&1; then
  # A cluster that stopped answering may still have processes running from
  # this directory: stop them first, or deleting it would orphan them
  # (holding ports and the etcd data the next 'up' needs).
  if [[ -d $dir ]]; then
    bash hack/cluster.sh down "$dir"
  fi
  rm -rf "$dir"
  bash hack/cluster.sh up "$dir" >/dev/null
fi
export KUBECONFIG=$dir/kubeconfig
./target/release/distro apply
echo
./target/release/distro status
echo
echo "cluster left running: export KUBECONFIG=$dir/kubeconfig; stop it with: bash hack/cluster.sh down $dir" >&2
