"""Scraping a process's Prometheus endpoint as Prometheus would, and parsing what it says."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from agentmesh_cli.process import ServerProcess


def metrics_port(process: ServerProcess) -> int:
    said = process.logged("metrics listening")
    assert said, f"{process.name} did not say where its metrics are: {process.logs}"
    return int(said[0]["port"])


async def scrape(port: int) -> dict[str, list[Sample]]:
    """Every family's samples by family name (as the text format names it), parsed strictly."""

    def get() -> tuple[str, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            return response.headers.get("content-type", ""), response.read().decode()

    content_type, text = await asyncio.to_thread(get)
    assert content_type.startswith("text/plain"), content_type
    return {family.name: list(family.samples) for family in text_string_to_metric_families(text)}


def value(families: Mapping[str, list[Sample]], sample: str, **labels: str) -> float:
    """The sum of the samples called `sample` whose labels include `labels` (0 if none)."""
    total = 0.0
    for samples in families.values():
        for found in samples:
            if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
                total += found.value
    return total


def sample_names(families: Mapping[str, list[Sample]]) -> set[str]:
    """Every series name exported, histogram parts (_bucket, _sum, _count) included."""
    return {sample.name for samples in families.values() for sample in samples}
