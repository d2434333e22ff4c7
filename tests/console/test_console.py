"""The console as a person uses it, in Chromium, against a gateway without authentication: start a
run from its form and watch its graph turn green live, cancel a run, read a failed step's error,
answer a question through the form made from its schema, reload mid-run, page through runs with
filters, and use it on a phone's width and from the keyboard. The main views are saved as
screenshots in docs/console/ (the README shows one)."""

from __future__ import annotations

import re

from playwright.async_api import Locator, Page, expect

from tests.console.conftest import SHOTS, ConsoleMesh, unique


def node(page: Page, step: str) -> Locator:
    return page.locator(f'g.node[data-step="{step}"]')


async def test_a_run_started_from_its_form_turns_green_live(mesh: ConsoleMesh, page: Page) -> None:
    await page.goto(mesh.url("/workflows/pipeline"))
    await expect(page.get_by_role("heading", name="pipeline", exact=True)).to_be_visible()
    await expect(page.locator("pre.yaml")).to_contain_text("dependencies:")
    await page.get_by_label("key").fill(unique("form"))
    await page.get_by_label("ms").fill("2000")
    await page.get_by_role("button", name="Start run").click()
    await expect(page).to_have_url(re.compile(r"/runs/[0-9a-f]{32}$"))
    # Live: the first step is seen running, later steps pending, then every step succeeded.
    await expect(node(page, "fetch")).to_have_attribute("data-state", "running")
    await expect(node(page, "join")).to_have_attribute("data-state", "pending")
    await expect(node(page, "fetch")).to_contain_text("running")
    for step in ("fetch", "left", "right", "join"):
        await expect(node(page, step)).to_have_attribute("data-state", "succeeded")
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("succeeded"))
    await expect(page.get_by_test_id("log-gaps")).to_have_text("no gaps")
    await expect(page.get_by_test_id("log-status")).to_contain_text("complete")
    # A step's details: its input (as declared), its output, its trace.
    await node(page, "join").click()
    details = page.get_by_test_id("step-details")
    await expect(details).to_contain_text('"${inputs.key}-join"')
    await expect(details).to_contain_text("-left")  # the output: the left branch's key
    run_id = page.url.rsplit("/", 1)[1].split("?")[0]
    await expect(details).to_contain_text(f"trace {run_id}")


async def test_a_running_run_is_cancelled_from_its_page(mesh: ConsoleMesh, page: Page) -> None:
    run_id = await mesh.start("slow", {"key": unique("cancel")})
    await page.goto(mesh.url(f"/runs/{run_id}"))
    await expect(node(page, "wait")).to_have_attribute("data-state", "running")
    await page.get_by_role("button", name="Cancel run").click()
    await page.get_by_role("button", name="Yes, cancel it").click()
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("cancelled"))
    await expect(node(page, "wait")).to_have_attribute("data-state", "cancelled")
    await expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    await expect(page.locator(".log-row", has_text="run cancelled")).to_have_count(1)


async def test_a_failed_steps_error_is_shown(mesh: ConsoleMesh, page: Page) -> None:
    run_id = await mesh.start("breaks", {"key": unique("breaks")})
    await page.goto(mesh.url(f"/runs/{run_id}"))
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("failed"))
    await expect(node(page, "explode")).to_have_attribute("data-state", "failed")
    await expect(page.get_by_role("alert")).to_contain_text("the widget is broken")
    await node(page, "explode").click()
    error = page.get_by_test_id("step-error")
    await expect(error).to_contain_text("INVALID_ARGUMENT")
    await expect(error).to_contain_text("TOLD_TO_FAIL")
    await expect(error).to_contain_text("the widget is broken")
    await expect(page).to_have_url(re.compile(r"\?step=explode$"))


async def test_a_question_is_answered_through_the_form_made_from_its_schema(
    mesh: ConsoleMesh, page: Page
) -> None:
    run_id = await mesh.start("asks", {"key": unique("asks")})
    await page.goto(mesh.url(f"/runs/{run_id}"))
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("waiting for input"))
    await expect(node(page, "choose")).to_have_attribute("data-state", "waiting for input")
    waiting = page.get_by_role("region", name="questions waiting for an answer")
    await expect(waiting).to_contain_text("Which widget? (1 of 1)")
    choice = waiting.get_by_label("Choice")
    await expect(choice).to_have_attribute("type", "number")
    await choice.fill("2.5")  # not an integer: refused in the form, nothing sent
    await waiting.get_by_role("button", name="Send answer").click()
    await expect(waiting).to_contain_text("must be a whole number")
    await choice.fill("7")
    await waiting.get_by_role("button", name="Send answer").click()
    await expect(page.get_by_test_id("run-state")).to_have_text(re.compile("succeeded"))
    await expect(page.locator(".log-row", has_text="input provided")).to_have_count(1)
    await node(page, "choose").click()
    await expect(page.get_by_test_id("step-details")).to_contain_text(re.compile(r'"choices": \[\s*7\s*\]'))


async def test_a_reload_mid_run_keeps_the_same_view(mesh: ConsoleMesh, page: Page) -> None:
    run_id = await mesh.start("chain", {"key": unique("reload")})
    await page.goto(mesh.url(f"/runs/{run_id}?step=two"))
    await expect(node(page, "two")).to_have_attribute("data-state", "running")
    await page.reload()
    await expect(page).to_have_url(mesh.url(f"/runs/{run_id}?step=two"))
    await expect(page.get_by_role("heading", name=f"Run {run_id}")).to_be_visible()
    await expect(page.get_by_test_id("step-details")).to_have_attribute("data-step", "two")
    await expect(node(page, "five")).to_have_attribute("data-state", "succeeded")
    await expect(page.get_by_test_id("log-gaps")).to_have_text("no gaps")


async def test_runs_are_filtered_searched_and_paged(mesh: ConsoleMesh, page: Page) -> None:
    tag = unique("page")
    ids = [await mesh.start("pipeline", {"key": f"{tag}-{n}", "ms": 0}) for n in range(4)]
    failed = await mesh.start("breaks", {"key": unique("listed")})
    await page.goto(mesh.url("/runs?size=10"))
    await expect(page.locator(f'tr[data-run="{failed}"]')).to_be_visible()
    await page.get_by_label("State").select_option("RUN_STATE_FAILED")
    await expect(page).to_have_url(re.compile(r"state=RUN_STATE_FAILED"))
    await expect(page.locator(f'tr[data-run="{failed}"]')).to_have_attribute("data-state", "RUN_STATE_FAILED")
    await expect(page.locator(f'tr[data-run="{ids[0]}"]')).to_have_count(0)
    await expect(page.locator("tbody tr:not([data-state=RUN_STATE_FAILED])")).to_have_count(0)
    await page.get_by_role("button", name="Clear").click()
    await page.get_by_label("Workflow").select_option("pipeline")
    await page.get_by_label("Search").fill(ids[2][:20])
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator(f'tr[data-run="{ids[2]}"]')).to_be_visible()
    # Pages of two: this test's four runs come newest first, each once, over the pages.
    await page.goto(mesh.url("/runs?workflow=pipeline&size=2"))
    await expect(page.get_by_label("Rows per page")).to_have_value("2")
    seen: list[str] = []
    while True:
        rows = page.locator("tbody tr")
        await expect(rows.first).to_be_visible()
        seen += [run for run in await rows.evaluate_all("rows => rows.map(r => r.dataset.run)")]
        older = page.get_by_role("button", name="Older →")
        if await older.is_disabled():
            break
        first = await rows.first.get_attribute("data-run")
        await older.click()
        await expect(page.locator(f'tr[data-run="{first}"]')).to_have_count(0)
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in ids] == list(reversed(ids))


async def test_on_a_phone_nothing_scrolls_sideways(mesh: ConsoleMesh, page: Page) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    run_id = await mesh.start("showcase", {"key": unique("phone")})
    for path in (
        "/runs",
        f"/runs/{run_id}",
        "/workflows",
        "/workflows/showcase",
        "/agents",
        "/agents/probe",
        "/metrics",
    ):
        await page.goto(mesh.url(path))
        await expect(page.locator("#page-title")).to_be_visible()
        if path.startswith("/runs/"):
            await expect(node(page, "report")).to_have_attribute("data-state", "succeeded")
        wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"{path} scrolls {wide}px sideways on a phone"


async def test_the_keyboard_reaches_the_main_controls(mesh: ConsoleMesh, page: Page) -> None:
    await mesh.start("pipeline", {"key": unique("keys"), "ms": 0})
    await page.goto(mesh.url("/runs"))
    await expect(page.locator("tbody tr").first).to_be_visible()
    wanted = [
        "link:Skip to content",
        "link:agentmesh console, runs",
        "link:Runs",
        "link:Workflows",
        "link:Schedules",
        "link:Agents",
        "link:Metrics",
        "input:filter-q",
        "select:filter-state",
        "select:filter-workflow",
        "input:filter-principal",
        "button:Apply",
    ]
    reached: list[str] = []
    for _ in wanted:
        await page.keyboard.press("Tab")
        reached.append(
            await page.evaluate(
                """() => {
                  const e = document.activeElement;
                  const tag = e.tagName.toLowerCase();
                  const kind = tag === 'a' ? 'link' : tag;
                  const named = tag === 'a' || tag === 'button';
                  const name = named ? (e.getAttribute('aria-label') || e.textContent.trim()) : e.id;
                  if (getComputedStyle(e).outlineStyle === 'none') return 'no visible focus: ' + name;
                  return kind + ':' + name;
                }"""
            )
        )
    assert reached == wanted
    await page.keyboard.press("Tab")
    focused_run = await page.evaluate("document.activeElement.closest('tr')?.dataset.run")
    assert focused_run, "the first run's link comes after the filters"
    # From the keyboard alone: open a workflow, fill its form, start a run.
    await page.goto(mesh.url("/workflows/pipeline"))
    await page.get_by_label("key").focus()
    await page.keyboard.type(unique("typed"))
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/runs/[0-9a-f]{32}$"))
    await expect(page.locator("#page-title")).to_be_focused()  # focus moves to the new view's heading
    await expect(node(page, "join")).to_have_attribute("data-state", "succeeded")


async def test_screenshots_of_the_main_views(mesh: ConsoleMesh, page: Page) -> None:
    """docs/console/*.png: the runs, a run with its graph and timeline, the agents, the metrics."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.set_viewport_size({"width": 1400, "height": 1000})
    await mesh.start("pipeline", {"key": unique("shot"), "ms": 100})
    await mesh.start("breaks", {"key": unique("shot")})
    run_id = await mesh.start("showcase", {"key": unique("shot")})
    await page.goto(mesh.url(f"/runs/{run_id}?step=verify"))
    await expect(node(page, "report")).to_have_attribute("data-state", "succeeded")
    await expect(page.locator(".tl-track .tl-seg.kind-retry")).to_have_count(1)
    await page.screenshot(path=SHOTS / "run.png")
    await page.goto(mesh.url("/runs"))
    await expect(page.locator(f'tr[data-run="{run_id}"]')).to_be_visible()
    await page.screenshot(path=SHOTS / "runs.png")
    await page.goto(mesh.url("/metrics"))
    await expect(page.get_by_text(re.compile(r"\(([4-9]|\d\d+) samples"))).to_be_visible()
    await page.screenshot(path=SHOTS / "metrics.png", full_page=True)
    await page.goto(mesh.url("/agents/probe"))
    await expect(page.locator(".replicas").get_by_text("serving")).to_be_visible()
    await expect(page.get_by_text("calls", exact=True)).to_be_visible()
    await page.screenshot(path=SHOTS / "agents.png")
