//go:build tools

// Package tools pins the build tools (mdatagen, ocb) at the collector release
// the receiver is built against, so `make tools` installs them reproducibly.
// golangci-lint (`make lint`) is pinned as a `tool` in go.mod.
package tools

import (
	_ "go.opentelemetry.io/collector/cmd/builder"
	_ "go.opentelemetry.io/collector/cmd/mdatagen"
)
