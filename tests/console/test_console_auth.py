"""Signing in to the console of a gateway that checks tokens: the token is asked for, checked
with the gateway, kept for the tab (a reload keeps you in) and sent as a header on every call;
a viewer sees runs and schedules but no control that starts, cancels or answers a run, or
changes a schedule."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from tests.console.conftest import ConsoleMesh, console_mesh, unique


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleMesh]:
    tokens = {"olivia": "operator", "vera": "viewer"}
    async with console_mesh(tmp_path_factory.mktemp("console-auth"), tokens=tokens) as running:
        yield running


async def sign_in(page: Page, mesh: ConsoleMesh, who: str, path: str = "/runs") -> None:
    await page.goto(mesh.url(path))
    await page.get_by_label("API token").fill(mesh.tokens[who])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("caller")).to_contain_text(who)


async def test_sign_in_with_a_token_and_stay_signed_in_across_a_reload(
    secured: ConsoleMesh, page: Page
) -> None:
    await page.goto(secured.url("/runs"))
    await expect(page.get_by_role("heading", name="Sign in to agentmesh")).to_be_visible()
    await page.get_by_label("API token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("did not accept")
    await page.get_by_label("API token").fill(secured.tokens["olivia"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("caller")).to_have_text("olivia · operator")
    await expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    # The token is in the tab's session storage, never in a cookie.
    assert await page.context.cookies() == []
    await page.reload()
    await expect(page.get_by_test_id("caller")).to_have_text("olivia · operator")
    # An operator starts a run from the workflow's form; it is recorded as theirs.
    await page.goto(secured.url("/workflows/pipeline"))
    await page.get_by_label("key").fill(unique("signed"))
    await page.get_by_role("button", name="Start run").click()
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("succeeded"))
    await expect(page.locator(".run-facts")).to_contain_text("by olivia")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("API token")).to_be_visible()


async def test_a_viewer_sees_no_start_cancel_or_answer_controls(secured: ConsoleMesh, page: Page) -> None:
    running = await secured.start("slow", {"key": unique("viewer")}, who="olivia")
    asking = await secured.start("asks", {"key": unique("viewer")}, who="olivia")
    await sign_in(page, secured, "vera")
    await expect(page.get_by_test_id("caller")).to_have_text("vera · viewer")
    await page.goto(secured.url("/workflows/pipeline"))
    await expect(page.locator("pre.yaml")).to_contain_text("name: pipeline")
    await expect(page.get_by_role("button", name="Start run")).to_have_count(0)
    await page.goto(secured.url(f"/runs/{running}"))
    await expect(page.locator('g.node[data-step="wait"]')).to_have_attribute("data-state", "running")
    await expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    await page.goto(secured.url(f"/runs/{asking}"))
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("waiting for input"))
    await expect(page.get_by_text("An operator can answer it")).to_be_visible()
    await expect(page.get_by_role("button", name="Send answer")).to_have_count(0)
    # The operator still can: the controls were hidden, not the runs.
    async with secured.client("olivia") as client:
        await client.handle(running).cancel()


async def test_a_viewer_sees_schedules_without_their_controls(secured: ConsoleMesh, page: Page) -> None:
    name = unique("nightly")
    async with secured.client("olivia") as client:
        await client.create_schedule(name, "pipeline", "0 3 * * *", {"key": "night"}, time_zone="Europe/Oslo")
    await sign_in(page, secured, "vera")
    await page.get_by_role("navigation", name="main").get_by_role("link", name="Schedules").click()
    row = page.locator(f'tr[data-schedule="{name}"]')
    await expect(row).to_contain_text("0 3 * * *")
    await expect(row.get_by_test_id("schedule-state")).to_have_text(re.compile("active"))
    await expect(page.get_by_role("columnheader", name="Actions")).to_have_count(0)
    await expect(page.get_by_role("button")).to_have_text(["Sign out"])
    await expect(page.get_by_role("region", name="Create a schedule")).to_have_count(0)
    await row.get_by_role("link", name=name).click()
    await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    await expect(page.get_by_text("by olivia")).to_be_visible()
    await expect(page.get_by_role("button", name=f"Pause {name}")).to_have_count(0)
    # An operator has them.
    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, secured, "olivia", "/runs")
    await page.get_by_role("navigation", name="main").get_by_role("link", name="Schedules").click()
    await expect(page.get_by_role("button", name=f"Pause {name}")).to_be_visible()
    await expect(page.get_by_role("region", name="Create a schedule")).to_be_visible()
