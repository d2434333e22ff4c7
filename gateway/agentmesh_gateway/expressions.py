"""Expressions in workflows: `${steps.plan.output.subtopics}`, `when: steps.review.output.approved == false`.

The language is a small, safe subset of Python expression syntax, evaluated over
the run's scope (`inputs`, `shared`, `steps`, `item`, `index`, `run`):

- access: `a.b`, `a["b"]`, `a[0]`; access through null yields null, never an error,
  so `steps.revise.output.markdown or steps.draft.output.markdown` works when
  `revise` was skipped;
- literals, lists and objects; `true`, `false` and `null` as well as Python's spelling;
- comparisons, `in`, `and`/`or`/`not`, arithmetic, `x if cond else y`, `len(x)`.

Step ids may contain hyphens: `steps.trend-discovery.output` reads as the step
`trend-discovery`, since subtracting from a step would mean nothing.

Every cost is bounded: an expression is at most MAX_EXPRESSION_CHARS long and its
syntax tree at most MAX_EXPRESSION_DEPTH deep (checked before evaluating, so no
input reaches Python's recursion limit), and every string or list an operator
builds counts against MAX_VALUE_BYTES for the whole evaluation. Finding expressions
inside `${...}` templates is `gateway.templates`.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from agentmesh.errors import echo
from agentmesh_gateway.limits import MAX_EXPRESSION_CHARS, MAX_EXPRESSION_DEPTH, MAX_VALUE_BYTES

_STEP_ID = re.compile(r"\bsteps\.([A-Za-z_][A-Za-z0-9_-]*)")
_CONSTANTS = {"true": True, "false": False, "null": None}
ROOTS = frozenset({"inputs", "shared", "steps", "item", "index", "run"})

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"len": len, "str": str, "int": int, "float": float, "bool": bool}
#: How many arguments each function takes (least, most): a wrong count is found when the
#: workflow is validated, not when a run gets there.
_ARITY = {"len": (1, 1), "str": (0, 1), "int": (0, 1), "float": (0, 1), "bool": (0, 1)}


class ExpressionError(ValueError):
    """An expression that does not parse, or fails when evaluated."""


# CPython 3.11 converts parsed trees to Python objects with interpreter-wide state: two
# threads parsing at once (the event loop and the validation thread) can fail with
# "SystemError: AST constructor recursion depth mismatch".
_PARSING = threading.Lock()


def parse(expression: str) -> ast.expr:
    """The expression's syntax tree, checked; ExpressionError says what is wrong with it."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"{echo(expression)} is longer than {MAX_EXPRESSION_CHARS} characters")
    return _parse(expression)


@functools.lru_cache(maxsize=1024)
def _parse(expression: str) -> ast.expr:
    # Cached: a run evaluates the same few expressions for every step and item. Only
    # successes are kept (lru_cache does not cache exceptions), at most 1024 of up to 1000 characters.
    source = _STEP_ID.sub(lambda m: f'steps["{m.group(1)}"]', expression.strip())
    try:
        with _PARSING:
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {echo(expression)}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError):
        # NUL bytes, or nesting beyond what CPython's parser takes.
        raise ExpressionError(f"cannot parse {echo(expression)}: it is nested too deeply") from None
    _check_depth(expression, tree)
    callees = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ExpressionError(
                f"{echo(expression)} uses {type(node).__name__}, which expressions do not allow"
            )
        if isinstance(node, ast.Name) and node.id not in ROOTS | _CONSTANTS.keys() | _FUNCTIONS.keys():
            raise ExpressionError(
                f"{echo(expression)} refers to {echo(node.id)}; expressions start from {sorted(ROOTS)}"
            )
        if isinstance(node, ast.Name) and node.id in _FUNCTIONS and id(node) not in callees:
            # A function is no value: `${len}` or `${str.join}` would be null at run time.
            raise ExpressionError(
                f"{echo(expression)} uses the function {node.id} as a value; call it, as {node.id}(x)"
            )
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(
                f"{echo(expression)} reads {echo(node.attr)}; names starting with _ are not allowed"
            )
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
        ):
            raise ExpressionError(f"{echo(expression)} calls something other than {sorted(_FUNCTIONS)}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            least, most = _ARITY[node.func.id]
            if not least <= len(node.args) <= most:
                wanted = str(least) if least == most else f"{least} or {most}"
                given = len(node.args)
                raise ExpressionError(
                    f"{echo(expression)} calls {node.func.id} with {given} arguments; it takes {wanted}"
                )
    return tree.body


def _check_depth(expression: str, tree: ast.AST) -> None:
    """Refuse a tree deeper than MAX_EXPRESSION_DEPTH, without recursing into it."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPRESSION_DEPTH:
            raise ExpressionError(
                f"{echo(expression)} is nested more than {MAX_EXPRESSION_DEPTH} levels deep"
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def evaluate(expression: str, scope: Mapping[str, Any]) -> Any:
    try:
        return _eval(parse(expression), scope, _Allowance())
    except ExpressionError:
        raise
    except Exception as exc:
        raise ExpressionError(f"{echo(expression)} failed: {echo(exc, 200)}") from None


def references(expression: str) -> tuple[set[str], set[str], set[str]]:
    """The step ids, input names and other roots an expression refers to."""
    steps: set[str] = set()
    inputs: set[str] = set()
    roots: set[str] = set()
    for node in ast.walk(parse(expression)):
        if isinstance(node, ast.Name) and node.id in ROOTS:
            roots.add(node.id)
        target = _named_child(node)
        if target is not None:
            parent, key = target
            if parent == "steps":
                steps.add(key)
            elif parent == "inputs":
                inputs.add(key)
    return steps, inputs, roots


def _named_child(node: ast.AST) -> tuple[str, str] | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    ):
        return node.value.id, node.slice.value
    return None


_ALLOWED = (
    ast.Expression,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.Subscript,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Compare,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.BinOp,
    ast.IfExp,
    ast.Call,
    *_COMPARE,
    *_BINARY,
)


class _Allowance:
    """Bytes an evaluation may still build: every string and list an operator makes counts."""

    def __init__(self) -> None:
        self.left = MAX_VALUE_BYTES

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise ExpressionError(f"the expression builds more than {MAX_VALUE_BYTES:,} bytes")


def _eval(node: ast.expr, scope: Mapping[str, Any], allowance: _Allowance) -> Any:
    def ev(child: ast.expr) -> Any:
        return _eval(child, scope, allowance)

    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            if name in _CONSTANTS:
                return _CONSTANTS[name]
            return scope.get(name)
        case ast.Attribute(value=inner, attr=attr):
            return _get(ev(inner), attr)
        case ast.Subscript(value=inner, slice=key):
            return _get(ev(inner), ev(key))
        case ast.List(elts=items) | ast.Tuple(elts=items):
            return [ev(item) for item in items]
        case ast.Dict(keys=keys, values=values):
            return {ev(k) if k else None: ev(v) for k, v in zip(keys, values, strict=True)}
        case ast.BoolOp(op=ast.And(), values=values):
            result: Any = True
            for value_node in values:
                result = ev(value_node)
                if not result:
                    return result
            return result
        case ast.BoolOp(op=ast.Or(), values=values):
            result = False
            for value_node in values:
                result = ev(value_node)
                if result:
                    return result
            return result
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not ev(operand)
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -ev(operand)
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            current = ev(left)
            for op, right_node in zip(ops, comparators, strict=True):
                right = ev(right_node)
                if not _COMPARE[type(op)](current, right):
                    return False
                current = right
            return True
        case ast.BinOp(left=left, op=op, right=right):
            a, b = ev(left), ev(right)
            allowance.spend(_built_size(op, a, b))
            return _number_in_range(_BINARY[type(op)](a, b))
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return ev(body) if ev(test) else ev(orelse)
        case ast.Call(func=ast.Name(id=name), args=args):
            result = _FUNCTIONS[name](*(ev(arg) for arg in args))
            if isinstance(result, str):
                allowance.spend(len(result))
            return _number_in_range(result)
    raise ExpressionError(f"unsupported expression: {echo(ast.unparse(node))}")


def _built_size(op: ast.operator, a: Any, b: Any) -> int:
    """How long the string or list `a op b` would be, found before it is built."""
    if isinstance(op, ast.Add) and isinstance(a, str | list) and isinstance(b, str | list):
        return len(a) + len(b)
    if isinstance(op, ast.Mult):
        for sequence, times in ((a, b), (b, a)):
            if isinstance(sequence, str | list) and isinstance(times, int) and not isinstance(times, bool):
                return len(sequence) * max(times, 0)
    if isinstance(op, ast.Mod) and isinstance(a, str):
        raise ExpressionError("string formatting with % is not allowed in expressions")
    return 0


def _number_in_range(value: Any) -> Any:
    """Numbers stay what JSON (a double) can hold: integers within ±2^63, finite floats."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ExpressionError("a number in the expression is out of range")
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError("a number in the expression is not finite")
    return value


def _get(container: Any, key: Any) -> Any:
    if container is None:
        return None
    if isinstance(container, Mapping):
        return container.get(key)
    if isinstance(container, list) and isinstance(key, int):
        return container[key] if -len(container) <= key < len(container) else None
    raise ExpressionError(f"cannot look up {key!r} in a {type(container).__name__}")
