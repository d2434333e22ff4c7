// Package descriptors holds the contract's descriptor set with source info (comments), built by
// `make protos` from protos/: what reflection serves, so that `grpcurl describe` shows the docs.
package descriptors

import _ "embed"

//go:embed agentmesh.binpb
var Set []byte
