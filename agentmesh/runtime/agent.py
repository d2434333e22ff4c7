"""The agent SDK: declare an agent, its skills and their typed input; the runtime does the rest.

agent = Agent("greeter", description="Greets people")

class Greet(BaseModel):
    name: str

@agent.skill("greet", "Say hello", input=Greet)
async def greet(data: Greet, ctx: Context) -> Reply:
    return Reply(text=f"Hello, {data.name}!", data={"greeting": f"Hello, {data.name}!"})

agent.run()  # a gRPC server with health, reflection and graceful shutdown
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from pydantic import BaseModel, Field, ValidationError

from agentmesh.errors import FieldViolation, InvalidInput
from agentmesh.llm.offline import Composer
from agentmesh.messages import FilePart, RawPart, UrlPart

if TYPE_CHECKING:
    from agentmesh.runtime.context import Context

M = TypeVar("M", bound=BaseModel)


class TextInput(BaseModel):
    """The input of a skill that declares none: the request's text."""

    text: str = Field(min_length=1, description="What to work on.")


@dataclass(frozen=True, slots=True)
class Reply:
    """What a handler returns: readable text and structured data a later workflow step can reference,
    and files (bytes as a RawPart, or a UrlPart pointing at them, each with a media type and a file
    name), which the reply carries after its text and data: a run keeps them as the step's files.

    `direct`: the reply is a message in its own right, not a task's result (A2A answers a message
    with either): an A2A caller of the agent gets it as a Message. Only from a skill declared with
    `direct_replies=True`."""

    text: str = ""
    data: Mapping[str, Any] | BaseModel | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    files: Sequence[FilePart] = ()
    direct: bool = False

    def __post_init__(self) -> None:
        # Checked here, where the handler's code is on the stack, rather than when the reply is
        # sent: a text or data part among the files would otherwise pass for one.
        for file in self.files:
            if not isinstance(file, RawPart | UrlPart):
                raise TypeError(f"a reply's files are RawPart or UrlPart, not {type(file).__name__}")
        object.__setattr__(self, "files", tuple(self.files))

    def data_dict(self) -> dict[str, Any] | None:
        if isinstance(self.data, BaseModel):
            return self.data.model_dump(mode="json", by_alias=False)
        return None if self.data is None else dict(self.data)


@dataclass(frozen=True, slots=True)
class Ask:
    """What a handler returns to ask a question instead of answering (A2A's input-required):
    the caller answers, and the skill is invoked again with the same input, the answer in
    `ctx.answer` and the conversation so far in `ctx.history`. `schema`: what the answer's data
    must be (a pydantic model or a JSON Schema); the gateway checks answers against it."""

    question: str
    schema: type[BaseModel] | Mapping[str, Any] | None = None
    data: Mapping[str, Any] | None = None

    def schema_dict(self) -> dict[str, Any] | None:
        if self.schema is None:
            return None
        if isinstance(self.schema, type):
            return self.schema.model_json_schema()
        return dict(self.schema)


Handler = Callable[[M, "Context"], Awaitable[Reply | Ask | str]]


@dataclass(frozen=True, slots=True)
class Skill(Generic[M]):
    id: str
    name: str
    description: str
    input_model: type[M]
    handler: Handler[M]
    output_model: type[BaseModel] | None = None
    tags: tuple[str, ...] = ()
    streams: bool = False
    #: Inputs the skill accepts, shown in the agent card and invoked by conformance checks.
    examples: tuple[Mapping[str, Any], ...] = ()
    #: Whether the handler may return `Ask` (a question) before it answers.
    asks_for_input: bool = False
    #: Whether the handler may return a direct reply (`Reply(direct=True)`).
    direct_replies: bool = False

    def parse(self, payload: Mapping[str, Any]) -> M:
        """Validate a request's input, naming every offending field on failure."""
        try:
            return self.input_model.model_validate(payload)
        except ValidationError as exc:
            violations = [
                FieldViolation(".".join(str(p) for p in err["loc"]) or "input", err["msg"])
                for err in exc.errors()
            ]
            summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
            raise InvalidInput(f"invalid input for skill {self.id!r}: {summary}", violations) from None


class Agent:
    """An agent: a name, a description, skills, and optional offline composers for its LLM tasks."""

    def __init__(
        self, name: str, *, description: str = "", version: str = "0.1.0", default_port: int = 0
    ) -> None:
        self.name = name
        self.description = description
        self.version = version
        self.default_port = default_port
        self._skills: dict[str, Skill[Any]] = {}
        self._composers: dict[str, Composer] = {}

    @overload
    def skill(
        self,
        id: str,
        description: str = "",
        *,
        name: str | None = None,
        output: type[BaseModel] | None = None,
        tags: Sequence[str] = (),
        streams: bool = False,
        examples: Sequence[Mapping[str, Any]] = (),
        asks_for_input: bool = False,
        direct_replies: bool = False,
    ) -> Callable[[Handler[TextInput]], Handler[TextInput]]: ...

    @overload
    def skill(
        self,
        id: str,
        description: str = "",
        *,
        input: type[M],
        name: str | None = None,
        output: type[BaseModel] | None = None,
        tags: Sequence[str] = (),
        streams: bool = False,
        examples: Sequence[Mapping[str, Any]] = (),
        asks_for_input: bool = False,
        direct_replies: bool = False,
    ) -> Callable[[Handler[M]], Handler[M]]: ...

    def skill(
        self,
        id: str,
        description: str = "",
        *,
        input: type[Any] = TextInput,
        name: str | None = None,
        output: type[BaseModel] | None = None,
        tags: Sequence[str] = (),
        streams: bool = False,
        examples: Sequence[Mapping[str, Any]] = (),
        asks_for_input: bool = False,
        direct_replies: bool = False,
    ) -> Callable[[Handler[Any]], Handler[Any]]:
        """Register a handler for a skill; `input` is the pydantic model its request data must satisfy,
        `examples` inputs it accepts (each is checked against `input` now); `asks_for_input`: the
        handler may return `Ask` before it answers; `direct_replies`: it may return
        `Reply(direct=True)` (an A2A stream of the skill then waits for the reply to know whether it
        is a Message or a task)."""
        for example in examples:
            input.model_validate(example)  # an example that does not validate is a bug in the agent
        if id in self._skills:
            raise ValueError(f"agent {self.name!r} already has a skill {id!r}")

        def register(handler: Handler[Any]) -> Handler[Any]:
            self._skills[id] = Skill(
                id=id,
                name=name or id.replace("_", " ").replace("-", " ").capitalize(),
                description=description or (handler.__doc__ or "").strip(),
                input_model=input,
                handler=handler,
                output_model=output,
                tags=tuple(tags),
                streams=streams,
                examples=tuple(dict(example) for example in examples),
                asks_for_input=asks_for_input,
                direct_replies=direct_replies,
            )
            return handler

        return register

    def offline(self, task: str) -> Callable[[Composer], Composer]:
        """Register how the offline provider answers `task` (by default a skill's id)."""

        def register(composer: Composer) -> Composer:
            self._composers[task] = composer
            return composer

        return register

    @property
    def skills(self) -> Sequence[Skill[Any]]:
        return tuple(self._skills.values())

    @property
    def composers(self) -> Mapping[str, Composer]:
        return dict(self._composers)

    def find_skill(self, skill_id: str) -> Skill[Any]:
        """The skill a request names; an empty name picks the only (or first) skill."""
        if not self._skills:
            raise InvalidInput.field("skill", f"agent {self.name!r} has no skills", reason="UNKNOWN_SKILL")
        if not skill_id:
            return next(iter(self._skills.values()))
        found = self._skills.get(skill_id)
        if found is None:
            known = ", ".join(self._skills)
            raise InvalidInput.field(
                "skill",
                f"agent {self.name!r} has no skill {skill_id!r}; it has: {known}",
                reason="UNKNOWN_SKILL",
            )
        return found

    def run(self, argv: Sequence[str] | None = None) -> None:
        """Serve this agent from the command line: --host, --port, --grace, --log-format."""
        from agentmesh.runtime.main import run_agent_cli

        run_agent_cli(self, argv)
