"""Hypothesis driving async properties: examples generated in a worker thread, each run on the test's loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

PROPERTY_SETTINGS = settings(
    # No explain phase: it parses source with `ast` in hypothesis's thread while the engine
    # parses expressions on the loop's, and CPython 3.11's AST conversion is not thread-safe.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


async def for_each_example(
    test: Callable[..., Coroutine[Any, Any, None]], *strategies: Any, max_examples: int = 100
) -> None:
    """Run hypothesis in a worker thread; each example's coroutine runs on this test's loop."""
    loop = asyncio.get_running_loop()

    @settings(PROPERTY_SETTINGS, max_examples=max_examples)
    @given(st.tuples(*strategies))
    def examples(args: tuple[Any, ...]) -> None:
        asyncio.run_coroutine_threadsafe(test(*args), loop).result(timeout=120)

    await asyncio.to_thread(examples)
