"""The analyst's input and output shapes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agentmesh_services.researcher.models import Research


class AnalyzeInput(BaseModel):
    topic: str = Field(min_length=3, max_length=1000)
    findings: list[Research | str] = Field(
        min_length=1, description="Research results (as the researcher returns them) or plain notes."
    )


class Theme(BaseModel):
    name: str
    summary: str
    evidence: list[str] = Field(default_factory=list)


class Analysis(BaseModel):
    topic: str
    themes: list[Theme] = Field(min_length=1)
    key_points: list[str] = Field(min_length=1)
    summary: str
    confidence: float = Field(ge=0, le=1)
