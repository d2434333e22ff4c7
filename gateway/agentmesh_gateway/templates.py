"""`${...}` templates inside workflow values: finding them, and filling them in.

A string is literal text with expressions in it: `"Hi ${inputs.name}"`. A string that
is one expression and nothing else (`"${steps.plan.output.subtopics}"`) takes the
expression's value, whatever its type; otherwise each value is put in as text. `$${`
stands for a literal `${`.

Scanning is linear in the text: an expression ends at the `}` that balances its
`{`s outside string literals, and an unclosed `${` is an error found in one pass
(never retried from each later `${`). Filling in is bounded by a byte budget shared
by the whole value, so that no input can make the gateway build more than it may
send on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from agentmesh_gateway import expressions
from agentmesh_gateway.expressions import ExpressionError
from agentmesh_gateway.limits import MAX_EXPRESSION_CHARS, MAX_VALUE_BYTES, LimitExceeded, check_value

# The characters that matter inside an expression; quoted strings are skipped whole.
_SIGNIFICANT = re.compile(r"""[{}'"]""")
_QUOTED = {"'": re.compile(r"'(?:[^'\\]|\\.)*'", re.DOTALL), '"': re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)}


@dataclass(frozen=True, slots=True)
class Expression:
    source: str


Piece = str | Expression


def pieces(text: str) -> list[Piece]:
    """Literal text and expressions, in order; ExpressionError for an unclosed `${`."""
    out: list[Piece] = []
    literal: list[str] = []
    position = 0
    while (dollar := text.find("$", position)) >= 0:
        if text.startswith("$${", dollar):
            literal.append(text[position:dollar] + "${")
            position = dollar + 3
        elif text.startswith("${", dollar):
            literal.append(text[position:dollar])
            if any(literal):
                out.append("".join(literal))
            literal = []
            end = _closing_brace(text, dollar + 2)
            out.append(Expression(text[dollar + 2 : end]))
            position = end + 1
        else:
            literal.append(text[position : dollar + 1])
            position = dollar + 1
    literal.append(text[position:])
    if any(literal):
        out.append("".join(literal))
    return out


def _closing_brace(text: str, start: int) -> int:
    """The index of the `}` that closes an expression starting at `start`."""
    # An expression is at most MAX_EXPRESSION_CHARS long: looking further is never needed,
    # which keeps the scan of a text full of unclosed `${` linear.
    window = text[start : start + MAX_EXPRESSION_CHARS + 1]
    depth = 0
    position = 0
    while (found := _SIGNIFICANT.search(window, position)) is not None:
        char = found.group()
        if char in _QUOTED:
            quoted = _QUOTED[char].match(window, found.start())
            if quoted is None:
                break
            position = quoted.end()
            continue
        position = found.end()
        if char == "{":
            depth += 1
        elif depth:
            depth -= 1
        else:
            return start + found.start()
    if len(window) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(
            f"the expression at character {start - 2} is unclosed or longer than "
            f"{MAX_EXPRESSION_CHARS} characters"
        )
    raise ExpressionError(f"the `${{` at character {start - 2} is never closed by a matching `}}`")


def expressions_in(value: Any) -> Iterator[str]:
    """Every expression inside a JSON value; ExpressionError for an unclosed one."""
    if isinstance(value, str):
        if "${" in value:
            yield from (p.source for p in pieces(value) if isinstance(p, Expression))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from expressions_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from expressions_in(item)


def unwrap(text: str) -> str:
    """`${expr}` → `expr`; a bare expression stays as it is (for `when` and `for_each`)."""
    stripped = text.strip()
    if stripped.startswith("${"):
        try:
            found = pieces(stripped)
        except ExpressionError:
            return text
        if len(found) == 1 and isinstance(found[0], Expression):
            return found[0].source
    return text


def resolve(value: Any, scope: Mapping[str, Any], what: str, max_bytes: int = MAX_VALUE_BYTES) -> Any:
    """The value with its expressions filled in; ExpressionError if it fails or grows too large."""
    budget = _Budget(what, max_bytes)
    resolved = _resolve(value, scope, budget)
    try:
        check_value(resolved, what, max_bytes)
    except LimitExceeded as exc:
        raise ExpressionError(str(exc)) from None
    return resolved


class _Budget:
    """Bytes of text left to build; shared by every string of one value."""

    def __init__(self, what: str, max_bytes: int) -> None:
        self.what, self.max_bytes, self.left = what, max_bytes, max_bytes

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise ExpressionError(f"{self.what} would be larger than {self.max_bytes:,} bytes")


def _resolve(value: Any, scope: Mapping[str, Any], budget: _Budget) -> Any:
    if isinstance(value, str):
        if "${" not in value:
            return value
        found = pieces(value)
        if len(found) == 1 and isinstance(found[0], Expression):
            return expressions.evaluate(found[0].source, scope)
        text: list[str] = []
        for piece in found:
            part = (
                piece
                if isinstance(piece, str)
                else _as_text(expressions.evaluate(piece.source, scope), budget)
            )
            budget.spend(len(part))
            text.append(part)
        return "".join(text)
    if isinstance(value, Mapping):
        return {key: _resolve(item, scope, budget) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, scope, budget) for item in value]
    return value


def _as_text(value: Any, budget: _Budget) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        # Measured before it is encoded: the encoding is as large as the value.
        try:
            check_value(value, budget.what, max(budget.left, 0))
        except LimitExceeded:
            raise ExpressionError(f"{budget.what} would be larger than {budget.max_bytes:,} bytes") from None
        return json.dumps(value, ensure_ascii=False)
    return str(value)
