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
# Reuses a running cluster; one that stopped answering is stopped (its
# processes, by the PIDs it recorded) before its directory is deleted.
bash hack/cluster.sh ensure "$dir" >/dev/null
export KUBECONFIG=$dir/kubeconfig
./target/release/distro apply
echo
./target/release/distro status
echo
echo "cluster left running: export KUBECONFIG=$dir/kubeconfig; stop it with: bash hack/cluster.sh down $dir" >&2
