"""The table in BENCHMARKS.md: each figure against its target, with the floor from the same run."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


@dataclass(frozen=True)
class Target:
    figure: str
    at_most: bool  # the target is an upper bound (else a lower one)
    bound: float
    measured: str  # the raw figure behind the key, whose spread the table shows
    floor: str = ""  # the floor it is compared with, measured in the same run

    def text(self) -> str:
        return f"{'≤' if self.at_most else '≥'} {self.bound:,g}"

    def met(self, value: float) -> bool:
        return value <= self.bound if self.at_most else value >= self.bound


TARGETS = {
    "p1_step_ratio": Target(
        "chain of 50 no-op steps: time per step ÷ raw unary round trip",
        True,
        1.5,
        "p1_step_ms",
        "floor_unary_ms",
    ),
    "p2_fanout_ms": Target(
        "for_each over 100 items of a 100 ms agent: wall time of the run (ms)",
        True,
        125,
        "p2_fanout_ms",
        "floor_fanout_ms",
    ),
    "p3_throughput_ratio": Target(
        "one-step workflows/s with 64 concurrent clients ÷ raw unary calls/s",
        False,
        0.4,
        "p3_runs_per_s",
        "floor_unary_calls_per_s",
    ),
    "p4_inflight_runs": Target(
        "runs in flight at once on one gateway (steps sleep 5 s), all completed",
        False,
        10_000,
        "p4_inflight_runs",
    ),
    "p4_rss_mb": Target("gateway peak RSS during p4 (MB)", True, 300, "p4_rss_mb"),
    "p5_delivery_p99_ms": Target(
        "1,000 WatchRun subscribers on one run: p99 recorded→received (ms)",
        True,
        50,
        "p5_delivery_p99_ms",
        "floor_broadcast_p99_ms",
    ),
    "p6_startup_s": Target("`agentmesh up` to all eight servers SERVING (s)", True, 3, "p6_startup_s"),
    "p6_python_rss_mb": Target("idle Python agent RSS (MB)", True, 60, "p6_python_rss_mb"),
    "p6_node_rss_mb": Target("idle TypeScript (Node) agent RSS (MB)", True, 60, "p6_node_rss_mb"),
    "p6_go_rss_mb": Target("idle Go agent RSS (MB)", True, 20, "p6_go_rss_mb"),
    "p6_python_serving_s": Target("a Python agent: spawned to SERVING (s)", True, 1, "p6_python_serving_s"),
    "p6_node_serving_s": Target("a Node agent: spawned to SERVING (s)", True, 1, "p6_node_serving_s"),
    "p6_go_serving_s": Target("a Go agent: spawned to SERVING (s)", True, 1, "p6_go_serving_s"),
    "p7_event_ratio": Target(
        "events/s delivered to one watcher ÷ raw server-stream messages/s",
        False,
        0.8,
        "p7_events_per_s",
        "floor_stream_msgs_per_s",
    ),
    # p8: the same run's plaintext, untraced p1 and p3 are the floor.
    "p8_tls_p1_cost": Target(
        "p1 with TLS on every hop (mTLS to the agent): time per step ÷ plaintext",
        True,
        1.05,
        "p8_tls_p1_step_ms",
        "p1_step_ms",
    ),
    "p8_tls_p3_cost": Target(
        "p3 with TLS on every hop: plaintext runs/s ÷ runs/s with TLS",
        True,
        1.05,
        "p8_tls_p3_runs_per_s",
        "p3_runs_per_s",
    ),
    "p8_otlp_p1_cost": Target(
        "p1 exporting every span (OTLP/gRPC): time per step ÷ untraced",
        True,
        1.15,
        "p8_otlp_p1_step_ms",
        "p1_step_ms",
    ),
    "p9_pg_p1_cost": Target(
        "p1 on PostgreSQL (one replica): time per step ÷ on SQLite",
        True,
        1.3,
        "p9_pg_p1_step_ms",
        "p1_step_ms",
    ),
    "p9_pg_p3_cost": Target(
        "p3 on PostgreSQL (one replica): SQLite runs/s ÷ PostgreSQL runs/s",
        True,
        1.3,
        "p9_pg_r1_p3_runs_per_s",
        "p3_runs_per_s",
    ),
    "p9_r2_p3_ratio": Target(
        "p3 with two replicas sharing PostgreSQL ÷ one (same 2 cores)",
        False,
        0.8,
        "p9_pg_r2_p3_runs_per_s",
        "p9_pg_r1_p3_runs_per_s",
    ),
    "p9_r3_p3_ratio": Target(
        "p3 with three replicas sharing PostgreSQL ÷ one (same 2 cores)",
        False,
        0.8,
        "p9_pg_r3_p3_runs_per_s",
        "p9_pg_r1_p3_runs_per_s",
    ),
    "p9_r3_p4_inflight_runs": Target(
        "runs in flight at once (3,000 started, steps sleep 5 s) over three replicas on PostgreSQL",
        False,
        3000,
        "p9_pg_r3_p4_inflight_runs",
        "p9_pg_r1_p4_inflight_runs",
    ),
    "p9_takeover_s": Target(
        "SIGKILL of the replica executing a run → another resumes it (s; lease 6 s, probes every 0.25 s)",
        True,
        1,
        "p9_takeover_s",
    ),
    "p8_otlp_p3_cost": Target(
        "p3 exporting every span: untraced runs/s ÷ runs/s traced",
        True,
        1.15,
        "p8_otlp_p3_runs_per_s",
        "p3_runs_per_s",
    ),
    "p10_sse_ratio": Target(
        "one SSE client and one WatchRun client on the same run: p99 recorded→received, SSE ÷ gRPC",
        True,
        1.1,
        "p10_sse_p99_ms",
        "p10_grpc_p99_ms",
    ),
    "p11_sse_delivery_p99_ms": Target(
        "1,000 SSE clients on one run: p99 recorded→received (ms)",
        True,
        50,
        "p11_sse_delivery_p99_ms",
        "p11_grpc_delivery_p99_ms",
    ),
    "p11_sse_ratio": Target(
        "p11 ÷ 1,000 WatchRun subscribers on the same gateway, same run of the bench (p99)",
        True,
        1.1,
        "p11_sse_delivery_p99_ms",
        "p11_grpc_delivery_p99_ms",
    ),
    "p12_first_paint_ms": Target(
        "the web console's first paint of a finished 1,000-step run in Chromium, cold cache (ms)",
        True,
        1000,
        "p12_first_paint_ms",
    ),
    "p13_tasks_per_sleeping_run": Target(
        "10,000 runs asleep (timer steps), parked: asyncio tasks each holds",
        True,
        0,
        "p13_tasks_per_sleeping_run",
    ),
    "p13_rss_kb_per_sleeping_run": Target(
        "10,000 runs asleep, parked: resident memory each adds (KB)",
        True,
        10,
        "p13_rss_kb_per_sleeping_run",
    ),
    "p13_wake_late_p99_ms": Target(
        "10,000 runs waking over 10 s: p99 of due time → sleep step completed (ms)",
        True,
        1000,
        "p13_wake_late_p99_ms",
    ),
}


def _median_and_spread(name: str, results: dict[str, float]) -> str:
    return f"{name} {results[f'raw_{name}']:.4g} (spread {results[f'spread_{name}']:.3g})"


def _row(key: str, target: Target, results: dict[str, float]) -> str:
    if key not in results:
        return f"| `{key}` | {target.figure} | not measured | {target.text()} | | | |"
    value = results[key]
    measured = _median_and_spread(target.measured, results)
    floor = _median_and_spread(target.floor, results) if target.floor else ""
    met = "yes" if target.met(value) else "**no**"
    return f"| `{key}` | {target.figure} | {value:.4g} | {target.text()} | {met} | {measured} | {floor} |"


def write_report(results: dict[str, float], quick: bool) -> None:
    """Replace the results block of BENCHMARKS.md (between its markers) with this run's table."""
    header = "| key | figure | value | target | met | median (spread: max - min) | floor, same run |"
    rows = [_row(key, target, results) for key, target in TARGETS.items()]
    table = "\n".join([header, "|---|---|---|---|---|---|---|", *rows])
    mode, command = ("quick", "make bench QUICK=1") if quick else ("full", "make bench")
    block = f"<!-- results:start -->\nLast run: {mode} mode, `{command}`.\n\n{table}\n<!-- results:end -->"
    text = REPORT.read_text() if REPORT.exists() else ""
    if "<!-- results:start -->" in text:
        text = re.sub(r"<!-- results:start -->.*<!-- results:end -->", lambda _: block, text, flags=re.DOTALL)
    else:
        text += "\n" + block + "\n"
    REPORT.write_text(text)


def main() -> None:
    """Re-render the table from bench/results.json (after editing this file, without re-measuring)."""
    import json

    results = json.loads((REPORT.parent / "bench" / "results.json").read_text())
    write_report(results, quick="Last run: quick" in REPORT.read_text())


if __name__ == "__main__":
    main()
