"""Schedules and workflow versions in the console, in Chromium against a real gateway: a schedule
created from the form (its inputs made from the workflow's), listed with its cron expression, time
zone and next ticks, paused, resumed, triggered (its run says which schedule started it) and
deleted, from the keyboard too; the gateway's field violations shown by the fields; every version
of a workflow with its runs, and an older version's graph and definition, started as that version.
(Viewers' schedules, without buttons, are in test_console_auth.py.)"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from agentmesh.v1 import workflow_pb2
from tests.console.conftest import ConsoleMesh, console_mesh, unique

FLOWS = {
    "versioned": """
name: versioned
description: The first version.
inputs:
  - {name: key, required: true}
steps:
  - {id: first, agent: probe, skill: echo, input: {key: "${inputs.key}"}}
""",
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleMesh]:
    async with console_mesh(tmp_path_factory.mktemp("console-schedules"), workflows=FLOWS) as running:
        yield running


async def open_schedules(page: Page, mesh: ConsoleMesh) -> None:
    """The schedules page, reached from the navigation."""
    await page.goto(mesh.url("/runs"))
    await page.get_by_role("navigation", name="main").get_by_role("link", name="Schedules").click()
    await expect(page.get_by_role("heading", name="Schedules", exact=True)).to_be_visible()


async def test_a_schedule_is_created_paused_resumed_triggered_and_deleted(
    mesh: ConsoleMesh, page: Page
) -> None:
    name = unique("weekly")
    await open_schedules(page, mesh)
    form = page.get_by_role("region", name="Create a schedule")
    await form.get_by_label("Name").fill(name)
    await form.get_by_label("Workflow").select_option("pipeline")
    # The workflow's inputs, as fields: `key` (required), `ms` with its default.
    await expect(form.get_by_label("ms")).to_have_value("300")
    await form.get_by_label("key").fill("scheduled")
    await form.get_by_label("Cron").fill("0 8 * * MON")
    await form.get_by_label("Time zone").fill("Mars/Olympus_Mons")
    await form.get_by_label("While the previous run is unfinished").select_option("OVERLAP_POLICY_ALLOW")
    await form.get_by_role("button", name="Create schedule").click()
    # The gateway refuses the time zone: said by the field.
    await expect(form.locator("#schedule-timeZone-error")).to_be_visible()
    await expect(form.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
    await form.get_by_label("Time zone").fill("Europe/Oslo")
    await form.get_by_label("Time zone").press("Enter")  # the form sends from the keyboard
    row = page.locator(f'tr[data-schedule="{name}"]')
    await expect(row).to_contain_text("0 8 * * MON")
    await expect(row).to_contain_text("Europe/Oslo")
    await expect(row).to_contain_text(re.compile(r"Mon\b.* 0[67]:00"))  # 08:00 in Oslo, in UTC
    await expect(row.get_by_test_id("schedule-state")).to_have_text(re.compile("active"))
    await expect(page.get_by_test_id("notice")).to_contain_text(f"Schedule {name} created")
    # Pause and resume from the keyboard: the button keeps the focus as it turns into the other.
    await row.get_by_role("button", name=f"Pause {name}").focus()
    await page.keyboard.press("Enter")
    await expect(row.get_by_test_id("schedule-state")).to_have_text(re.compile("paused"))
    await expect(row).to_have_attribute("data-paused", "true")
    await expect(row.locator('td[data-label="Next run"]')).to_have_text("—")
    await expect(row.get_by_role("button", name=f"Resume {name}")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(row.get_by_test_id("schedule-state")).to_have_text(re.compile("active"))
    # Trigger: a run now, linked; it says which schedule started it.
    await row.get_by_role("button", name=f"Trigger {name} now").click()
    await expect(page.get_by_test_id("notice")).to_contain_text(f"Schedule {name} started a run")
    await expect(row.get_by_test_id("last-run")).to_be_visible()
    await page.get_by_test_id("notice").get_by_role("link").click()
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("succeeded"))
    started_by = page.get_by_test_id("schedule")
    await expect(started_by).to_contain_text(f"started by schedule {name}")
    # The schedule's own page: its five next ticks, its inputs, its controls.
    await started_by.get_by_role("link", name=name).click()
    await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    await expect(page.get_by_test_id("next-fire-times").locator("li")).to_have_count(5)
    await expect(page.locator("pre.json")).to_contain_text('"key": "scheduled"')
    await expect(page.get_by_text("allow", exact=True)).to_be_visible()
    await page.get_by_role("button", name=f"Delete {name}").click()
    await page.get_by_role("button", name="Yes, delete it").click()
    await expect(page).to_have_url(mesh.url("/schedules"))
    await expect(page.locator(f'tr[data-schedule="{name}"]')).to_have_count(0)


async def test_the_form_marks_what_it_can_check_before_sending(mesh: ConsoleMesh, page: Page) -> None:
    await open_schedules(page, mesh)
    form = page.get_by_role("region", name="Create a schedule")
    await form.get_by_label("Name").fill("Not Kebab")
    await form.get_by_label("Cron").fill("every monday")
    await form.get_by_role("button", name="Create schedule").click()
    await expect(form.locator("#schedule-name-error")).to_contain_text("lower-kebab-case")
    await expect(form.locator("#schedule-cron-error")).to_contain_text("five fields")
    await expect(form.get_by_role("alert")).to_contain_text("Check the fields")


async def test_on_a_phone_the_schedules_fit(mesh: ConsoleMesh, page: Page) -> None:
    async with mesh.client() as client:
        await client.create_schedule(
            unique("phone"), "pipeline", "30 6 * * *", {"key": "x"}, time_zone="America/New_York"
        )
    await page.set_viewport_size({"width": 390, "height": 844})
    await open_schedules(page, mesh)
    await expect(page.locator("tbody tr").first).to_be_visible()
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the schedules scroll {wide}px sideways on a phone"


async def test_every_version_of_a_workflow_and_an_older_ones_definition(
    mesh: ConsoleMesh, page: Page
) -> None:
    await mesh.start("versioned", {"key": unique("v1")})
    async with mesh.client() as client:
        older, _ = await client.get_workflow("versioned")
        newer = workflow_pb2.Workflow()
        newer.CopyFrom(older)
        newer.ClearField("version")
        newer.description = "The second version: it naps after."
        newer.steps.add(id="after", sleep="1s", dependencies=["first"])
        applied, created = await client.apply_workflow(newer)
        assert created and applied.version == "2"
    await page.goto(mesh.url("/workflows"))
    await expect(page.locator('[data-workflow="versioned"]')).to_contain_text("version 2 (2 versions)")
    await page.goto(mesh.url("/workflows/versioned"))
    await expect(page.get_by_test_id("workflow-version")).to_contain_text("Version 2 (the latest)")
    versions = page.locator("table.versions tbody tr")
    await expect(versions).to_have_count(2)
    await expect(versions.nth(0)).to_have_attribute("data-version", "2")
    await expect(page.locator('tr[data-version="1"] td[data-label="Runs"]')).to_have_text("1")
    await expect(page.locator('g.node[data-step="after"]')).to_contain_text("sleeps 1s")
    # Version 1: its own graph and definition, and a run of it.
    await page.locator('tr[data-version="1"]').get_by_role("link", name="1").click()
    await expect(page).to_have_url(mesh.url("/workflows/versioned?version=1"))
    await expect(page.get_by_test_id("workflow-version")).to_contain_text("not the latest (2 is")
    await expect(page.locator("pre.yaml")).to_contain_text('version: "1"')
    await expect(page.locator("pre.yaml")).not_to_contain_text("after")
    await expect(page.locator('g.node[data-step="after"]')).to_have_count(0)
    await expect(page.get_by_role("heading", name="Start a run of version 1")).to_be_visible()
    await page.get_by_label("key").fill(unique("pinned"))
    await page.get_by_role("button", name="Start run").click()
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("succeeded"))
    await expect(page.locator(".run-facts")).to_contain_text("versioned@1")
    await page.goto(mesh.url("/workflows/versioned?version=1"))
    await expect(page.locator('tr[data-version="1"] td[data-label="Runs"]')).to_have_text("2")
