"""The workflows a gateway knows by name, every version of each, kept in the run store.

Registering a workflow (ApplyWorkflow, a mesh file, the shipped ones at start) stores a version:
the one the definition names, or the next number; a changed definition under a version taken is
refused, the same definition again changes nothing. A run started by name takes the latest
version, by NAME@VERSION that one, and pins the definition it started with (the run keeps it), so
a restart resumes it with that definition whatever was registered since.

Each gateway keeps every version in memory, read from the store once and then incrementally every
REFRESH_SECONDS (a version registered on another replica is started by name here within that), and
at once when a NAME@VERSION asked for is not known yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from agentmesh.errors import AgentMeshError, AlreadyExists, NotFound, echo
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import workflow_pb2
from agentmesh_gateway.store.base import VersionTaken
from agentmesh_gateway.store.registry import Registry, WorkflowRecord
from agentmesh_gateway.validator import Validator

log = logging.getLogger("agentmesh.gateway.catalog")

REFRESH_SECONDS = 2.0
_PAGE = 500


@dataclass(frozen=True, slots=True)
class Version:
    """A registered version: its definition (version set) and when it was registered."""

    workflow: workflow_pb2.Workflow
    digest: str
    create_time_ns: int


def digest_of(workflow: workflow_pb2.Workflow) -> str:
    """What makes two definitions the same: their encoding, the version left out."""
    bare = workflow_pb2.Workflow()
    bare.CopyFrom(workflow)
    bare.ClearField("version")
    return hashlib.sha256(bare.SerializeToString(deterministic=True)).hexdigest()


def split_name(name: str) -> tuple[str, str]:
    """NAME@VERSION → (NAME, VERSION); NAME → (NAME, "") for the latest."""
    base, _, version = name.partition("@")
    return base, version


class WorkflowCatalog:
    def __init__(
        self,
        workflows: Mapping[str, workflow_pb2.Workflow],
        agent_names: Callable[[], Collection[str]],
        store: Registry,
    ) -> None:
        """`workflows`: those the gateway is started with (mesh file, shipped), registered on
        start; until then they are what it knows."""
        self._given = dict(workflows)
        self._store = store
        self._latest: dict[str, workflow_pb2.Workflow] = dict(workflows)
        self._latest_ids: dict[str, int] = {}
        self._versions: dict[str, dict[str, Version]] = {}
        #: The last registration read from the store (ids rise with each, across names).
        self._cursor = 0
        self._validator = Validator(agent_names, lambda: self._latest.keys())
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Register the workflows the gateway was given, then read every version."""
        self._latest = {}
        for name, workflow in self._given.items():
            named = workflow_pb2.Workflow()
            named.CopyFrom(workflow)
            named.name = named.name or name
            try:
                await self._register(named)
            except AgentMeshError as exc:
                log.error("cannot register a workflow", extra={"workflow": name, "error": exc.message})
        await self.refresh()
        self._refresher = asyncio.create_task(self._keep_fresh(), name="workflow-catalog")

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        self._validator.close()

    async def validate(self, workflow: workflow_pb2.Workflow) -> list[str]:
        return await self._validator.validate(workflow)

    def by_name(self) -> dict[str, workflow_pb2.Workflow]:
        """The latest version of each workflow."""
        return dict(self._latest)

    def named(self, name: str) -> workflow_pb2.Workflow:
        """NAME's latest version, or NAME@VERSION; NotFound naming what is registered."""
        base, version = split_name(name)
        if version:
            found = self._versions.get(base, {}).get(version)
            if found is not None:
                return found.workflow
            known = ", ".join(self._versions.get(base, {})) or "none"
            raise NotFound(
                f"workflow {echo(base)} has no version {echo(version)}; registered: {known}",
                reason="WORKFLOW_VERSION_NOT_FOUND",
            )
        try:
            return self._latest[base]
        except KeyError:
            known = ", ".join(sorted(self._latest)) or "none"
            raise NotFound(
                f"no workflow named {echo(base)}; registered: {known}", reason="WORKFLOW_NOT_FOUND"
            ) from None

    async def resolve(self, name: str) -> workflow_pb2.Workflow:
        """As `named`, reading the store first if `name` is not known here (yet)."""
        try:
            return self.named(name)
        except NotFound:
            await self.refresh()
            return self.named(name)

    def versions(self, name: str | None = None) -> list[Version]:
        """Every version (of one workflow), newest first within a name."""
        names = [name] if name is not None else sorted(self._versions)
        return [v for n in names for v in reversed(list(self._versions.get(n, {}).values()))]

    async def versions_with_runs(self, name: str | None = None) -> list[pb.WorkflowVersion]:
        """`versions`, each with how many runs pinned it and how many of those are unfinished."""
        counts = await self._store.version_counts(name)
        answered = []
        for version in self.versions(name):
            workflow = version.workflow
            runs, unfinished = counts.get((workflow.name, workflow.version), (0, 0))
            entry = pb.WorkflowVersion(
                name=workflow.name,
                version=workflow.version,
                digest=version.digest,
                runs=runs,
                runs_unfinished=unfinished,
            )
            entry.create_time.FromNanoseconds(version.create_time_ns)
            answered.append(entry)
        return answered

    async def apply(self, workflow: workflow_pb2.Workflow) -> tuple[workflow_pb2.Workflow, bool]:
        """Validate and register; the workflow as registered (its version set), and whether it is new."""
        await self.validate(workflow)
        return await self._register(workflow)

    async def _register(self, workflow: workflow_pb2.Workflow) -> tuple[workflow_pb2.Workflow, bool]:
        record = WorkflowRecord(
            workflow.name, workflow.version, digest_of(workflow), workflow.SerializeToString(), time.time_ns()
        )
        try:
            kept, created = await self._store.put_workflow(record, explicit=bool(workflow.version))
        except VersionTaken:
            raise AlreadyExists(
                f"version {echo(workflow.version)} of workflow {echo(workflow.name)} is registered with"
                " another definition; give the changed definition a new version (or none, for the next)",
                reason="VERSION_TAKEN",
            ) from None
        self._keep(kept)
        return self._versions[kept.name][kept.version].workflow, created

    async def refresh(self) -> None:
        """Read the versions registered since the last read."""
        while page := await self._store.workflows_after(self._cursor, _PAGE):
            for record in page:
                self._keep(record)
                self._cursor = max(self._cursor, record.id)
            if len(page) < _PAGE:
                break

    def _keep(self, record: WorkflowRecord) -> None:
        """Know a version; the latest of a name is the one registered last (the highest id)."""
        versions = self._versions.setdefault(record.name, {})
        if record.version not in versions:
            workflow = workflow_pb2.Workflow.FromString(record.definition)
            workflow.name, workflow.version = record.name, record.version
            versions[record.version] = Version(workflow, record.digest, record.create_time_ns)
            # Versions are listed in the order they were registered.
            self._versions[record.name] = dict(
                sorted(versions.items(), key=lambda kv: (kv[1].create_time_ns, kv[0]))
            )
        if record.id > self._latest_ids.get(record.name, -1):
            self._latest[record.name] = self._versions[record.name][record.version].workflow
            self._latest_ids[record.name] = record.id

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            with contextlib.suppress(Exception):  # a store that is away: the next round reads it
                await self.refresh()
