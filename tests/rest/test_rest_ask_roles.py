"""Who may answer an ask step, on a gateway checking tokens with tenant isolation: the question
decides (its principals, or its role), not a blanket role on ProvideInput."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.rest.test_rest_errors import problem
from tests.support.rest import RestGateway


def asking(**ask: Any) -> dict[str, Any]:
    return {
        "name": f"ask-{uuid.uuid4().hex[:6]}",
        "steps": [{"id": "approve", "ask": {"question": "Ship it?", "approval": True, **ask}}],
        "outputs": {"approved": "${steps.approve.output.approved}"},
    }


async def waiting(http: httpx.AsyncClient, run_id: str) -> None:
    async with asyncio.timeout(20):
        while (await http.get(f"/v1/runs/{run_id}")).json()["run"]["state"] != "RUN_STATE_WAITING_FOR_INPUT":
            await asyncio.sleep(0.05)


async def test_a_viewer_named_by_the_question_answers_it_and_others_may_not(secured: RestGateway) -> None:
    answer = {"stepId": "approve", "answer": {"parts": [{"data": {"approved": True}}]}}
    async with (
        secured.http(secured.tokens["oscar"]) as oscar,
        secured.http(secured.tokens["vera"]) as vera,
        secured.http(secured.tokens["olga"]) as olga,
    ):
        started = await oscar.post("/v1/runs", json={"workflow": asking(principals=["vera"])})
        run_id = started.json()["run"]["runId"]
        await waiting(oscar, run_id)
        # Another operator is not named: refused as the question says, nothing recorded.
        problem(await olga.post(f"/v1/runs/{run_id}:provideInput", json=answer), 404, "RUN_NOT_FOUND")
        answered = await vera.post(f"/v1/runs/{run_id}:provideInput", json=answer)
        assert answered.status_code == 200, answered.text
        # A question naming nobody is the run's: with isolation, another's run is not there at all.
        started = await oscar.post("/v1/runs", json={"workflow": asking(role="viewer")})
        other = started.json()["run"]["runId"]
        await waiting(oscar, other)
        problem(await vera.post(f"/v1/runs/{other}:provideInput", json=answer), 404, "RUN_NOT_FOUND")
        await oscar.post(f"/v1/runs/{other}:cancel")
