"""The gateway's one converter of run data between its two forms.

Run data (a run's inputs and shared context, steps' inputs and outputs, answers, schemas) travels
as protobuf (`Struct`, `Value`) on the wire and in the store, and is read as plain Python
(JSON-shaped) by expressions, templates, JSON Schema and the size limits. Every conversion between
the two in the gateway goes through this module (tests/gateway/test_payloads.py checks that no
other module converts), as temporalio's data converter owns every payload of Temporal's SDK.

A run's inputs cross the gateway once: `RunData` keeps both forms of a value, each made the first
time it is asked for, so the Struct a client sent is stored as it came, and the Python form the
limits are checked on is the one the run's expressions then read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, overload

from google.protobuf import struct_pb2

from agentmesh.messages import dict_to_struct, fill_struct, python_to_value, struct_to_dict, value_to_python

__all__ = ["RunData", "fill", "to_python", "to_struct", "to_value"]


@overload
def to_python(value: struct_pb2.Struct) -> dict[str, Any]: ...


@overload
def to_python(value: struct_pb2.Value) -> Any: ...


def to_python(value: struct_pb2.Struct | struct_pb2.Value) -> Any:
    """A Struct as a dict, a Value as what it holds; whole numbers as int."""
    if isinstance(value, struct_pb2.Struct):
        return struct_to_dict(value)
    return value_to_python(value)


def to_struct(data: Mapping[str, Any]) -> struct_pb2.Struct:
    """A JSON-shaped mapping as a Struct (TypeError for anything not JSON-shaped)."""
    return dict_to_struct(data)


def to_value(data: Any) -> struct_pb2.Value:
    """JSON-shaped data as a Value."""
    return python_to_value(data)


def fill(struct: struct_pb2.Struct, data: Mapping[str, Any]) -> None:
    """Fill a Struct that is a field of a message being built, in place (assigning a built one
    would copy it by decoding)."""
    fill_struct(struct, data)


class RunData:
    """A JSON object of run data in both forms, each converted at most once.

    Made from either form; the other is converted when first asked for and kept. Neither form
    is changed after that (both are shared with whoever asked), so changes make a new RunData.
    """

    __slots__ = ("_python", "_struct")

    def __init__(
        self, *, struct: struct_pb2.Struct | None = None, python: Mapping[str, Any] | None = None
    ) -> None:
        if struct is None and python is None:
            struct = struct_pb2.Struct()
        self._struct = struct
        self._python = dict(python) if python is not None else None

    @classmethod
    def of(cls, data: RunData | struct_pb2.Struct | Mapping[str, Any] | None) -> RunData:
        if isinstance(data, RunData):
            return data
        if isinstance(data, struct_pb2.Struct):
            return cls(struct=data)
        return cls(python=data or {})

    @property
    def struct(self) -> struct_pb2.Struct:
        if self._struct is None:
            assert self._python is not None
            self._struct = to_struct(self._python)
        return self._struct

    @property
    def python(self) -> dict[str, Any]:
        if self._python is None:
            assert self._struct is not None
            self._python = struct_to_dict(self._struct)
        return self._python

    def names(self) -> Iterable[str]:
        """The top-level names, read from a form already made (nothing is converted)."""
        if self._python is not None:
            return self._python.keys()
        assert self._struct is not None
        return self._struct.fields.keys()

    def with_values(self, values: Mapping[str, struct_pb2.Value]) -> RunData:
        """A copy with `values` added (say, declared defaults), in each form already made."""
        if not values:
            return self
        struct = python = None
        if self._struct is not None:
            struct = struct_pb2.Struct()
            struct.CopyFrom(self._struct)
            for name, value in values.items():
                struct.fields[name].CopyFrom(value)
        if self._python is not None:
            python = {**self._python, **{name: value_to_python(value) for name, value in values.items()}}
        return RunData(struct=struct, python=python)

    def __repr__(self) -> str:
        return f"RunData({self.python!r})"
