//go:build tools

// Package tools pins the kwok controller that hack/cluster.sh builds, so that
// go.mod and go.sum list everything it needs.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
