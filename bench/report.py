"""The table in BENCHMARKS.md: each figure against its target, with the floor from the same run."""

from __future__ import annotations

import re
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"

TARGETS = {
    "p1_step_ratio": ("chain of 50 no-op steps: time per step ÷ raw unary round trip", "≤ 1.5"),
    "p2_fanout_ms": ("for_each over 100 items of a 100 ms agent: wall time of the run (ms)", "≤ 130"),
    "p3_throughput_ratio": ("one-step workflows/s with 64 concurrent clients ÷ raw unary calls/s", "≥ 0.4"),
    "p4_inflight_runs": ("runs in flight at once on one gateway (steps sleep 5 s), all completed", "10,000"),
    "p4_rss_mb": ("gateway peak RSS during p4 (MB)", "≤ 500"),
    "p5_delivery_p99_ms": ("1,000 WatchRun subscribers on one run: p99 recorded→received (ms)", "≤ 50"),
    "p6_startup_s": ("`agentmesh up` to all eight servers SERVING (s)", "≤ 3"),
    "p6_agent_rss_mb": ("idle agent RSS (MB)", "≤ 60"),
    "p7_event_ratio": ("events/s delivered to one watcher ÷ raw server-stream messages/s", "≥ 0.6"),
}
FLOOR = {
    "p1_step_ratio": "raw_floor_unary_ms",
    "p2_fanout_ms": "raw_floor_fanout_ms",
    "p3_throughput_ratio": "raw_floor_unary_calls_per_s",
    "p5_delivery_p99_ms": "raw_floor_broadcast_p99_ms",
    "p7_event_ratio": "raw_floor_stream_msgs_per_s",
}


def write_report(results: dict[str, float], quick: bool) -> None:
    rows = []
    for key, (figure, target) in TARGETS.items():
        value = f"{results[key]:g}" if key in results else "not measured yet"
        floor = f"{FLOOR[key].removeprefix('raw_')} = {results[FLOOR[key]]:g}" if key in FLOOR else ""
        rows.append(f"| `{key}` | {figure} | {value} | {target} | {floor} |")
    mode = "quick" if quick else "full"
    text = REPORT.read_text() if REPORT.exists() else ""
    table = "\n".join(
        ["| key | figure | value | target | floor (same run) |", "|---|---|---|---|---|", *rows]
    )
    command = "make bench QUICK=1" if quick else "make bench"
    block = f"<!-- results:start -->\nLast run: {mode} mode, `{command}`.\n\n{table}\n<!-- results:end -->"
    if "<!-- results:start -->" in text:
        text = re.sub(r"<!-- results:start -->.*<!-- results:end -->", block, text, flags=re.DOTALL)
    else:
        text += "\n" + block + "\n"
    REPORT.write_text(text)
