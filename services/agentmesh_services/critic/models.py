"""The critic's input and output shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ReportText(BaseModel):
    """The part of a writer's report the critic and the writer's revise skill read."""

    markdown: str = Field(min_length=1)
    title: str = ""
    revision: int = 0


class ReviewInput(BaseModel):
    report: ReportText | str = Field(description="The writer's report, or its markdown.")
    topic: str = Field("", max_length=1000)
    threshold: float = Field(0.8, ge=0, le=1, description="Approve at or above this score.")

    @property
    def markdown(self) -> str:
        return self.report if isinstance(self.report, str) else self.report.markdown


class Feedback(BaseModel):
    aspect: str = Field(description="What the comment is about, e.g. conclusion, length, coverage.")
    comment: str
    severity: Literal["low", "medium", "high"] = "medium"


class Review(BaseModel):
    score: float = Field(ge=0, le=1)
    approved: bool
    feedback: list[Feedback] = Field(default_factory=list)
    strengths: list[str] = Field(default_factory=list)
    summary: str
