"""The writer's input and output shapes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agentmesh_services.analyst.models import Analysis
from agentmesh_services.critic.models import ReportText, Review


class DraftInput(BaseModel):
    topic: str = Field(min_length=3, max_length=1000)
    analysis: Analysis = Field(description="The analyst's output.")
    audience: str = Field("general readers", max_length=200)


class ReviseInput(BaseModel):
    draft: ReportText | str = Field(description="The report to revise, or its markdown.")
    critique: Review = Field(description="The critic's review.")
    topic: str = Field("", max_length=1000)

    @property
    def markdown(self) -> str:
        return self.draft if isinstance(self.draft, str) else self.draft.markdown


class Report(BaseModel):
    title: str
    markdown: str
    word_count: int
    sections: list[str]
    revision: int = Field(0, description="0 for a first draft, then 1, 2, … per revision.")
