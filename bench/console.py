"""p12: the web console's first paint of a 1,000-step run, in Chromium (Debian's, driven by
Playwright), against a gateway serving its HTTP port with the bench agent behind it.

The run (1,000 no-op steps in 40 ranks of 25, each depending on the step above it) is finished
first, so its whole history (over 2,000 events) is replayed to the page. Each repetition opens the
run's page in a fresh browser context (nothing cached) and reads the console's own marks, in ms
from the start of the navigation: `console:run-painted` (the run's header, steps, timeline and
the first events on screen), `console:dag-drawn` (the graph laid out in its worker and drawn) and
`console:run-log-complete` (every event up to the snapshot's last sequence received and shown).

    python -m bench.console          # prints the figures; `make bench` records p12 with the rest
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
from pathlib import Path

from agentmesh.client import Client
from agentmesh.v1 import workflow_pb2
from bench.mesh import bench_mesh
from bench.workloads import run_to_end, workflow

CHROMIUM = "/usr/bin/chromium"
STEPS, WIDTH = 1000, 25
MARKS = {
    "p12_first_paint_ms": "console:run-painted",
    "p12_dag_ms": "console:dag-drawn",
    "p12_log_complete_ms": "console:run-log-complete",
}


def big_run() -> workflow_pb2.Workflow:
    return workflow(
        {
            "name": "console-1000",
            "steps": [
                {
                    "id": f"s{i:04d}",
                    "agent": "bench",
                    "skill": "noop",
                    "dependencies": [f"s{i - WIDTH:04d}"] if i >= WIDTH else [],
                }
                for i in range(STEPS)
            ],
        }
    )


async def first_paint(workdir: Path, reps: int) -> dict[str, list[float]]:
    from playwright.async_api import async_playwright

    figures: dict[str, list[float]] = {key: [] for key in MARKS}
    async with bench_mesh(workdir / "console.db", ["--http-port", "0"]) as mesh:
        async with await Client.connect(mesh.target) as client:
            run_id = await run_to_end(client, big_run())
        url = f"http://127.0.0.1:{mesh.http_port}/runs/{run_id}"
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                for _ in range(reps):
                    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = await context.new_page()
                    await page.goto(url)
                    marks = list(MARKS.values())
                    await page.wait_for_function(
                        "marks => marks.every(m => performance.getEntriesByName(m).length > 0)",
                        arg=marks,
                        timeout=60_000,
                    )
                    times = await page.evaluate(
                        "marks => marks.map(m => performance.getEntriesByName(m)[0].startTime)", marks
                    )
                    for key, value in zip(MARKS, times, strict=True):
                        figures[key].append(float(value))
                    await context.close()
            finally:
                await browser.close()
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="agentmesh-bench-console-") as workdir:
        figures = asyncio.run(first_paint(Path(workdir), reps=5))
    print(json.dumps({key: round(statistics.median(values), 1) for key, values in figures.items()}, indent=2))


if __name__ == "__main__":
    main()
