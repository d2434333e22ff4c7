"""Generated protobuf and gRPC stubs for package agentmesh.v1 (`make protos`); do not edit."""
