"""The steps that wait, in Chromium against a real gateway: an approval answered with its buttons
and a question answered through the form made from an ask step's schema, a run that sleeps (and
says when it wakes), a sub-workflow step that links to its child run (which links back), what a
run spent against its budget, and a step queued behind the probe agent's concurrency limit (one
call at a time here, from the mesh file). No agent but the probe: ask, sleep and workflow steps
need none."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Locator, Page, expect

from tests.console.conftest import ConsoleMesh, console_mesh, unique

FLOWS = {
    "reviewed": """
name: reviewed
description: An approval, a sleep, a child run of `little`, then a step of its own; budgeted.
inputs:
  - {name: key, required: true}
budget: {tokens: 5000}
steps:
  - id: approve
    ask: {question: "Ship ${inputs.key}?", approval: true, timeout: 1h}
  - {id: nap, sleep: 5s, dependencies: [approve]}
  - id: child
    workflow: little
    dependencies: [nap]
    input: {key: "${inputs.key}"}
  - id: tally
    agent: probe
    skill: echo
    dependencies: [child]
    input: {key: "${inputs.key}-tally", tokens: 120}
""",
    "little": """
name: little
description: One probe step, run as a child.
inputs:
  - {name: key, required: true}
steps:
  - {id: hello, agent: probe, skill: echo, input: {key: "${inputs.key}-little", tokens: 40}}
""",
    "gate": """
name: gate
description: An approval with a default answer, a question with a schema, a step only if approved.
steps:
  - id: decide
    ask:
      question: Deploy the widgets?
      approval: true
      timeout: 1h
      default_answer: {approved: false, comment: nobody answered}
  - id: size
    dependencies: [decide]
    ask:
      question: How many widgets?
      schema:
        type: object
        properties: {count: {type: integer, minimum: 1, title: Count}}
        required: [count]
  - {id: deploy, sleep: 1s, dependencies: [size], when: "${steps.decide.output.approved}"}
""",
    "naps": """
name: naps
description: Sleeps ten minutes.
steps:
  - {id: doze, sleep: 10m}
""",
    "hold": """
name: hold
description: One probe call that takes a minute.
inputs:
  - {name: key, required: true}
steps:
  - {id: work, agent: probe, skill: echo, input: {key: "${inputs.key}", ms: 60000}}
""",
}

#: One probe call at a time (so a second one queues), and a price for replies that name no model.
MESH_FILE = """
agents:
  probe:
    addresses: [127.0.0.1:9]
    max_concurrency: 1
prices:
  "": {input: 2.0, output: 4.0}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def limited(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleMesh]:
    workdir = tmp_path_factory.mktemp("console-steps")
    async with console_mesh(workdir, workflows=FLOWS, mesh_file=MESH_FILE) as running:
        yield running


def node(page: Page, step: str) -> Locator:
    return page.locator(f'g.node[data-step="{step}"]')


async def test_an_approval_a_sleep_and_a_child_run(limited: ConsoleMesh, page: Page) -> None:
    run_id = await limited.start("reviewed", {"key": unique("ship")})
    await page.goto(limited.url(f"/runs/{run_id}"))
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("waiting for input"))
    # The graph says what each step does, with no agent for ask, sleep and workflow steps.
    await expect(node(page, "approve")).to_have_attribute("data-kind", "ask")
    await expect(node(page, "approve")).to_contain_text("asks for approval")
    await expect(node(page, "nap")).to_contain_text("sleeps 5s")
    await expect(node(page, "child")).to_contain_text("runs little")
    await expect(node(page, "tally")).to_contain_text("probe · echo")
    waiting = page.get_by_role("region", name="questions waiting for an answer")
    await expect(waiting).to_contain_text("approve asks for approval")
    await expect(waiting).to_contain_text(re.compile(r"Ship ship-\w+\?"))
    await expect(waiting).to_contain_text("times out")
    await expect(page.get_by_test_id("run-wake")).to_contain_text("a question times out")
    # The budget is shown before anything is spent.
    await expect(page.get_by_test_id("budget")).to_contain_text("tokens: 0 of 5,000")
    await waiting.get_by_label("Comment").fill("ship it")
    await waiting.get_by_role("button", name="Approve", exact=True).click()
    # The run sleeps, and says until when.
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("sleeping"))
    await expect(page.get_by_test_id("run-wake")).to_contain_text(re.compile(r"wakes \d\d:\d\d:\d\d \(in "))
    await expect(node(page, "nap")).to_have_attribute("data-state", "sleeping")
    await expect(node(page, "nap")).to_contain_text("wakes")
    await expect(page.locator(".tl-track .tl-seg.kind-sleep")).to_have_count(1)
    await expect(page.locator(".log-row", has_text="sleeping")).to_have_count(1)
    # Then the child run, then the run's own step: done.
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("succeeded"))
    await expect(page.locator(".tl-track .tl-seg.kind-child")).to_have_count(1)
    await expect(page.locator(".log-row", has_text="child run started")).to_have_count(1)
    # What it spent: the child's 40 tokens and its own 120, at 2 per million in.
    usage = page.get_by_test_id("usage")
    await expect(usage.get_by_test_id("usage-in")).to_have_text("160")
    await expect(usage.get_by_test_id("usage-cost")).to_have_text("0.00032")
    await expect(page.get_by_test_id("budget")).to_contain_text("tokens: 160 of 5,000 (3%)")
    await usage.get_by_text("By model").click()
    await expect(usage.locator("table.models")).to_contain_text("not named by the agent")
    # The approval's answer is the step's output.
    await node(page, "approve").click()
    details = page.get_by_test_id("step-details")
    await expect(details).to_contain_text('"approved": true')
    await expect(details).to_contain_text('"comment": "ship it"')
    # The sub-workflow step links to its child run, and the child back to it.
    await node(page, "child").click()
    await expect(details).to_contain_text("runs workflow little as a child run")
    await details.get_by_test_id("child-run").click()
    await expect(page.get_by_role("heading", name=re.compile(r"^Run [0-9a-f]{32}$"))).to_be_visible()
    assert run_id not in page.url
    parent = page.get_by_test_id("parent")
    await expect(parent).to_contain_text("child run of")
    await expect(parent).to_contain_text("step child")
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("succeeded"))
    await parent.get_by_role("link").click()
    await expect(page).to_have_url(limited.url(f"/runs/{run_id}?step=child"))
    await expect(page.get_by_test_id("step-details")).to_have_attribute("data-step", "child")
    # The runs list says the child was started by its parent.
    await page.goto(limited.url("/runs?workflow=little"))
    await expect(page.get_by_test_id("started-by-parent").first).to_contain_text("step child")


async def test_an_approval_rejected_and_a_question_from_an_ask_steps_schema(
    limited: ConsoleMesh, page: Page
) -> None:
    run_id = await limited.start("gate", {})
    await page.goto(limited.url(f"/runs/{run_id}"))
    waiting = page.get_by_role("region", name="questions waiting for an answer")
    await expect(waiting).to_contain_text("Deploy the widgets?")
    await expect(waiting).to_contain_text("then the default answer is taken")
    await waiting.get_by_label("Comment").fill("not today")
    await waiting.get_by_role("button", name="Reject", exact=True).click()
    # The next question's form is made from its schema: a whole number of at least 1.
    await expect(waiting).to_contain_text("How many widgets?")
    count = waiting.get_by_label("Count")
    await expect(count).to_have_attribute("type", "number")
    await expect(waiting.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    await count.fill("3")
    await waiting.get_by_role("button", name="Send answer").click()
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("succeeded"))
    await expect(node(page, "deploy")).to_have_attribute("data-state", "skipped")
    await node(page, "decide").click()
    details = page.get_by_test_id("step-details")
    await expect(details).to_contain_text('"approved": false')
    await expect(details).to_contain_text('"comment": "not today"')
    await node(page, "size").click()
    await expect(details).to_contain_text('"count": 3')


async def test_a_sleeping_run_in_the_runs_list(limited: ConsoleMesh, page: Page) -> None:
    run_id = await limited.start("naps", {})
    try:
        await page.goto(limited.url("/runs"))
        await page.get_by_label("State").select_option("RUN_STATE_SLEEPING")
        row = page.locator(f'tr[data-run="{run_id}"]')
        await expect(row).to_have_attribute("data-state", "RUN_STATE_SLEEPING")
        await expect(row).to_contain_text(re.compile(r"sleeping\s+wakes \d\d:\d\d:\d\d"))
        await row.get_by_role("link", name=run_id).click()
        await expect(node(page, "doze")).to_have_attribute("data-state", "sleeping")
        await node(page, "doze").click()
        await expect(page.get_by_test_id("step-wake")).to_contain_text(re.compile(r"\(in (9|10) m"))
    finally:
        async with limited.client() as client:
            await client.handle(run_id).cancel()
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("cancelled"))
    await expect(node(page, "doze")).to_have_attribute("data-state", "cancelled")


async def test_a_step_queued_for_its_agents_limit(limited: ConsoleMesh, page: Page) -> None:
    first = await limited.start("hold", {"key": unique("first")})
    await page.goto(limited.url(f"/runs/{first}"))
    await expect(node(page, "work")).to_have_attribute("data-state", "running")
    second = await limited.start("hold", {"key": unique("second")})
    try:
        await page.goto(limited.url(f"/runs/{second}?step=work"))
        await expect(node(page, "work")).to_have_attribute("data-state", "queued")
        await expect(node(page, "work")).to_contain_text("concurrency")
        limit = "probe's max_concurrency limit"
        await expect(page.get_by_test_id("run-queued")).to_contain_text(f"work waits for {limit}")
        await expect(page.get_by_test_id("step-queue")).to_contain_text(f"attempt 1 waits for {limit}")
        await expect(page.locator(".tl-track .tl-seg.kind-queue")).to_have_count(1)
        await expect(page.locator(".log-row", has_text="queued")).to_contain_text("max_concurrency")
        await page.goto(limited.url("/runs?workflow=hold"))
        await expect(page.locator(f'tr[data-run="{second}"]').get_by_test_id("queued-note")).to_have_text(
            re.compile("1 queued")
        )
        # The first call ends: the queued one goes, and the wait ends on the timeline.
        await page.goto(limited.url(f"/runs/{second}?step=work"))
        async with limited.client() as client:
            await client.handle(first).cancel()
        await expect(node(page, "work")).to_have_attribute("data-state", "running")
        await expect(page.get_by_test_id("run-queued")).to_have_count(0)
        await expect(page.locator(".tl-track .tl-seg.kind-attempt.out-running")).to_have_count(1)
    finally:
        async with limited.client() as client:
            for run_id in (first, second):
                await client.handle(run_id).cancel()
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("cancelled"))


async def test_on_a_phone_the_waiting_views_fit(limited: ConsoleMesh, page: Page) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    run_id = await limited.start("reviewed", {"key": unique("phone")})
    try:
        await page.goto(limited.url(f"/runs/{run_id}"))
        await expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()
        await expect(page.get_by_test_id("budget")).to_be_visible()
        wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"the run page scrolls {wide}px sideways on a phone"
    finally:
        async with limited.client() as client:
            await client.handle(run_id).cancel()
