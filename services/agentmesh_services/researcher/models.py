"""The researcher's input and output shapes; later steps reference these fields by name."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

Depth = Literal["quick", "standard", "deep"]


class PlanInput(BaseModel):
    topic: str = Field(min_length=3, max_length=1000, description="What to research.")
    depth: Depth = Field("standard", description="How thoroughly: quick, standard or deep.")
    max_subtopics: int = Field(3, ge=1, le=10, description="At most this many subtopics.")


class Subtopic(BaseModel):
    title: str = Field(min_length=1)
    question: str = Field(min_length=1, description="The question researching this subtopic answers.")
    keywords: list[str] = Field(default_factory=list)


class Plan(BaseModel):
    topic: str
    depth: Depth
    subtopics: list[Subtopic] = Field(min_length=1)


class ResearchInput(BaseModel):
    subtopic: Subtopic | Annotated[str, Field(min_length=1, max_length=1000)] = Field(
        description="A subtopic from a plan, or its title."
    )
    topic: str = Field("", max_length=1000, description="The overall topic, for context.")
    depth: Depth = "standard"


class Finding(BaseModel):
    claim: str
    detail: str = ""
    confidence: float = Field(ge=0, le=1)


class Research(BaseModel):
    subtopic: str
    question: str = ""
    findings: list[Finding] = Field(min_length=1)
    summary: str
