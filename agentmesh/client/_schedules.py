"""Schedules from the client: create one, then act on it through its handle (as a run's).

schedule = await client.create_schedule("nightly-digest", "research", "0 6 * * *",
                                        {"topic": "agent meshes"}, time_zone="Europe/Oslo")
await schedule.pause("holidays")
run = await schedule.trigger()
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from agentmesh.messages import dict_to_struct
from agentmesh.v1 import orchestrator_service_pb2 as pb

if TYPE_CHECKING:
    from agentmesh.client._client import Client
    from agentmesh.client._handle import RunHandle

Overlap = Literal["skip", "allow", "cancel_previous"]
CatchUp = Literal["none", "one", "all"]

OVERLAP_POLICIES: Mapping[str, pb.OverlapPolicy.ValueType] = {
    "skip": pb.OVERLAP_POLICY_SKIP,
    "allow": pb.OVERLAP_POLICY_ALLOW,
    "cancel_previous": pb.OVERLAP_POLICY_CANCEL_PREVIOUS,
}
CATCH_UP_POLICIES: Mapping[str, pb.CatchUpPolicy.ValueType] = {
    "none": pb.CATCH_UP_POLICY_NONE,
    "one": pb.CATCH_UP_POLICY_ONE,
    "all": pb.CATCH_UP_POLICY_ALL,
}


def schedule_message(
    name: str,
    workflow: str,
    cron: str,
    inputs: Mapping[str, Any] | None = None,
    *,
    time_zone: str = "",
    overlap: Overlap = "skip",
    catch_up: CatchUp = "one",
    catch_up_window: timedelta | None = None,
    paused: bool = False,
) -> pb.Schedule:
    """A Schedule as CreateSchedule takes it; an unknown policy is a ValueError naming the choices."""
    if overlap not in OVERLAP_POLICIES:
        raise ValueError(f"overlap must be one of {', '.join(OVERLAP_POLICIES)}, not {overlap!r}")
    if catch_up not in CATCH_UP_POLICIES:
        raise ValueError(f"catch_up must be one of {', '.join(CATCH_UP_POLICIES)}, not {catch_up!r}")
    schedule = pb.Schedule(
        name=name,
        workflow_name=workflow,
        cron=cron,
        inputs=dict_to_struct(dict(inputs or {})),
        time_zone=time_zone,
        overlap=OVERLAP_POLICIES[overlap],
        catch_up=CATCH_UP_POLICIES[catch_up],
        paused=paused,
    )
    if catch_up_window is not None:
        schedule.catch_up_window.FromTimedelta(catch_up_window)
    return schedule


class ScheduleHandle:
    """One schedule, by name. `Client.schedule(name)` asks the gateway nothing."""

    def __init__(self, client: Client, name: str) -> None:
        self._client = client
        self.name = name

    def __repr__(self) -> str:
        return f"ScheduleHandle({self.name!r})"

    async def describe(self) -> pb.Schedule:
        """The schedule with its next fire times, last tick and last run."""
        stub = self._client.stub
        return (await self._client.call(stub.GetSchedule, pb.GetScheduleRequest(name=self.name))).schedule

    async def pause(self, reason: str = "") -> pb.Schedule:
        request = pb.PauseScheduleRequest(name=self.name, reason=reason)
        return (await self._client.call(self._client.stub.PauseSchedule, request)).schedule

    async def resume(self) -> pb.Schedule:
        """Fire again from the next tick after now (what fell due while paused is not caught up)."""
        request = pb.ResumeScheduleRequest(name=self.name)
        return (await self._client.call(self._client.stub.ResumeSchedule, request)).schedule

    async def trigger(self) -> RunHandle:
        """Start a run now, as a tick would (the overlap policy applies)."""
        request = pb.TriggerScheduleRequest(name=self.name)
        run = (await self._client.call(self._client.stub.TriggerSchedule, request)).run
        return self._client.handle(run.run_id)

    async def delete(self) -> None:
        """Stop and forget the schedule; the runs it started stay."""
        await self._client.call(self._client.stub.DeleteSchedule, pb.DeleteScheduleRequest(name=self.name))
