//go:build tools

// Package tools pins the Kubernetes control-plane commands that
// hack/cluster.sh builds, so that go.mod and go.sum list everything they need.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
