"""The video scriptor's input and output shapes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from agentmesh_services._social import Platform


class TrendRef(BaseModel):
    """The fields of a trend the scriptor uses; a trend scanner's trend fits."""

    name: str = Field(min_length=1, max_length=200)
    hashtag: str = Field("", max_length=100)
    description: str = Field("", max_length=500)


# Bounded, because the script repeats a trend's name in several scenes: an unbounded name made a
# reply larger than a caller's 4 MB receive limit out of a 1 MB request.
TrendName = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ScriptInput(BaseModel):
    format: str = Field(min_length=2, max_length=60, description="e.g. unboxing, tutorial, review.")
    objective: str = Field(min_length=2, max_length=200, description="e.g. product_launch, awareness.")
    trends: list[TrendRef | TrendName] = Field(
        default_factory=list, max_length=20, description="Trends to ride, best first."
    )
    topic: str = Field("", max_length=200)
    platform: Platform = "tiktok"
    duration_seconds: int = Field(60, ge=15, le=180)


class Scene(BaseModel):
    number: int = Field(ge=1)
    duration_seconds: int = Field(ge=1)
    visual: str
    narration: str
    on_screen_text: str = ""


class Script(BaseModel):
    title: str
    format: str
    objective: str
    platform: Platform
    hook: str
    scenes: list[Scene] = Field(min_length=1)
    call_to_action: str
    hashtags: list[str]
    duration_seconds: int
