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
"""

from __future__ import annotations

import ast
import json
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

TEMPLATE = re.compile(r"\$\{(.*?)\}")
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


class ExpressionError(ValueError):
    """An expression that does not parse, or fails when evaluated."""


def parse(expression: str) -> ast.expr:
    source = _STEP_ID.sub(lambda m: f'steps["{m.group(1)}"]', expression.strip())
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {expression!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ExpressionError(
                f"{expression!r} uses {type(node).__name__}, which expressions do not allow"
            )
        if isinstance(node, ast.Name) and node.id not in ROOTS | _CONSTANTS.keys() | _FUNCTIONS.keys():
            raise ExpressionError(
                f"{expression!r} refers to {node.id!r}; expressions start from {sorted(ROOTS)}"
            )
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(
                f"{expression!r} reads {node.attr!r}; names starting with _ are not allowed"
            )
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
        ):
            raise ExpressionError(f"{expression!r} calls something other than {sorted(_FUNCTIONS)}")
    return tree.body


def evaluate(expression: str, scope: Mapping[str, Any]) -> Any:
    try:
        return _eval(parse(expression), scope)
    except ExpressionError:
        raise
    except Exception as exc:
        raise ExpressionError(f"{expression!r} failed: {exc}") from None


def unwrap(text: str) -> str:
    """`${expr}` → `expr`; a bare expression stays as it is (for `when` and `for_each`)."""
    match = TEMPLATE.fullmatch(text.strip())
    return match.group(1) if match else text


def resolve(value: Any, scope: Mapping[str, Any]) -> Any:
    """Replace the expressions inside a step input (any JSON value) by their values."""
    if isinstance(value, str):
        whole = TEMPLATE.fullmatch(value)
        if whole:
            return evaluate(whole.group(1), scope)
        return TEMPLATE.sub(lambda m: _as_text(evaluate(m.group(1), scope)), value)
    if isinstance(value, Mapping):
        return {key: resolve(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, scope) for item in value]
    return value


def expressions_in(value: Any) -> Iterator[str]:
    """Every `${...}` expression inside a JSON value."""
    if isinstance(value, str):
        yield from (m.group(1) for m in TEMPLATE.finditer(value))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from expressions_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from expressions_in(item)


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


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)


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


def _eval(node: ast.expr, scope: Mapping[str, Any]) -> Any:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            if name in _CONSTANTS:
                return _CONSTANTS[name]
            return scope.get(name)
        case ast.Attribute(value=inner, attr=attr):
            return _get(_eval(inner, scope), attr)
        case ast.Subscript(value=inner, slice=key):
            return _get(_eval(inner, scope), _eval(key, scope))
        case ast.List(elts=items) | ast.Tuple(elts=items):
            return [_eval(item, scope) for item in items]
        case ast.Dict(keys=keys, values=values):
            return {
                _eval(k, scope) if k else None: _eval(v, scope) for k, v in zip(keys, values, strict=True)
            }
        case ast.BoolOp(op=ast.And(), values=values):
            result: Any = True
            for value_node in values:
                result = _eval(value_node, scope)
                if not result:
                    return result
            return result
        case ast.BoolOp(op=ast.Or(), values=values):
            result = False
            for value_node in values:
                result = _eval(value_node, scope)
                if result:
                    return result
            return result
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _eval(operand, scope)
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -_eval(operand, scope)
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            current = _eval(left, scope)
            for op, right_node in zip(ops, comparators, strict=True):
                right = _eval(right_node, scope)
                if not _COMPARE[type(op)](current, right):
                    return False
                current = right
            return True
        case ast.BinOp(left=left, op=op, right=right):
            return _BINARY[type(op)](_eval(left, scope), _eval(right, scope))
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return _eval(body, scope) if _eval(test, scope) else _eval(orelse, scope)
        case ast.Call(func=ast.Name(id=name), args=args):
            return _FUNCTIONS[name](*(_eval(arg, scope) for arg in args))
    raise ExpressionError(f"unsupported expression: {ast.unparse(node)}")


def _get(container: Any, key: Any) -> Any:
    if container is None:
        return None
    if isinstance(container, Mapping):
        return container.get(key)
    if isinstance(container, list) and isinstance(key, int):
        return container[key] if -len(container) <= key < len(container) else None
    raise ExpressionError(f"cannot look up {key!r} in a {type(container).__name__}")
