"""Tables for people and for pipes: boxed on a terminal; piped, no borders and no width limit,
so that an id or a state is never cut and `grep`/`awk` see whole columns."""

from __future__ import annotations

import sys

from rich import box
from rich.console import Console
from rich.table import Table


def show(table: Table) -> None:
    if sys.stdout.isatty():
        Console(soft_wrap=True).print(table)
        return
    table.box = box.SIMPLE_HEAD
    table.title = None
    for column in table.columns:
        column.no_wrap = True
        column.overflow = "ignore"
    width = 20 + sum(
        max([len(str(c.header)), *(len(str(cell)) for cell in c.cells)]) + 3 for c in table.columns
    )
    Console(width=width, no_color=True, highlight=False).print(table)
