"""The contract's descriptors as reflection serves them: with their documentation.

Generated code embeds descriptors stripped of comments, and protobuf's Python runtime
drops source info when it copies a descriptor back to a proto, so reflection would
serve none and `grpcurl describe` show no comment. `make protos` checks in a descriptor
set built with source info (agentmesh/v1/agentmesh.binpb); `DocumentedPool` answers
reflection's lookups from the ordinary pool, but hands out those files as they were
written, comments and all.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from google.protobuf import descriptor, descriptor_pb2, descriptor_pool


@cache
def documented_files() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """The contract's files (and what they import), with their source info, by file name."""
    data = resources.files("agentmesh.v1").joinpath("agentmesh.binpb").read_bytes()
    return {file.name: file for file in descriptor_pb2.FileDescriptorSet.FromString(data).file}


class DocumentedPool:
    """What grpc's reflection servicer needs of a pool, serving documented files where known."""

    def __init__(
        self,
        pool: descriptor_pool.DescriptorPool,
        documented: Mapping[str, descriptor_pb2.FileDescriptorProto],
    ) -> None:
        self._pool = pool
        self._documented = documented

    def FindFileByName(self, name: str) -> _DocumentedFile:
        return _DocumentedFile(self._pool.FindFileByName(name), self._documented)

    def FindFileContainingSymbol(self, symbol: str) -> _DocumentedFile:
        return _DocumentedFile(self._pool.FindFileContainingSymbol(symbol), self._documented)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)  # message, extension and service lookups, as they are


class _DocumentedFile:
    def __init__(
        self, file: descriptor.FileDescriptor, documented: Mapping[str, descriptor_pb2.FileDescriptorProto]
    ) -> None:
        self._file = file
        self._documented = documented
        self.name = file.name

    @property
    def dependencies(self) -> list[_DocumentedFile]:
        return [_DocumentedFile(dependency, self._documented) for dependency in self._file.dependencies]

    def CopyToProto(self, proto: descriptor_pb2.FileDescriptorProto) -> None:
        written = self._documented.get(self.name)
        if written is not None:
            proto.CopyFrom(written)
        else:
            self._file.CopyToProto(proto)


def documented_pool() -> DocumentedPool:
    return DocumentedPool(descriptor_pool.Default(), documented_files())
