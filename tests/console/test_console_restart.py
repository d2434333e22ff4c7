"""The run page's event log across a gateway killed with SIGKILL and started again on the same
store and ports: the browser's event stream reconnects and resumes after the last sequence it
showed, so the log runs from #1 to the run's last event without a gap or a repeat."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from tests.console.conftest import ConsoleMesh, console_mesh, unique


@pytest_asyncio.fixture(loop_scope="session")
async def restartable(tmp_path: pytest.TempPathFactory) -> AsyncIterator[ConsoleMesh]:
    async with console_mesh(tmp_path, fixed_ports=True) as running:  # type: ignore[arg-type]
        yield running


async def test_the_log_goes_on_without_a_gap_after_a_gateway_restart(
    restartable: ConsoleMesh, page: Page
) -> None:
    mesh = restartable
    run_id = await mesh.start("chain", {"key": unique("restart")})
    await page.goto(mesh.url(f"/runs/{run_id}"))
    await expect(page.locator('g.node[data-step="two"]')).to_have_attribute("data-state", "running")
    await expect(page.get_by_test_id("log-status")).to_contain_text("live")
    await mesh.restart()  # kill -9, then a new gateway on the same store and ports
    await expect(page.locator('g.node[data-step="five"]')).to_have_attribute("data-state", "succeeded")
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("succeeded"))
    async with mesh.client() as client:
        last = (await client.get_run(run_id)).proto.last_sequence
    await expect(page.get_by_test_id("log-range")).to_have_text(f"#1\u2013#{last}")
    await expect(page.get_by_test_id("log-gaps")).to_have_text("no gaps")
    shown = [
        int(seq)
        for seq in await page.locator(".log-row").evaluate_all("rows => rows.map(r => r.dataset.seq)")
    ]
    assert shown == list(range(1, last + 1))
    await expect(page.locator(".log-row", has_text="run resumed")).to_have_count(1)
