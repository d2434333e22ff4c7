"""The trend scanner's input and output shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, Field

from agentmesh_services._social import Platform

DateRange = Literal["last_24_hours", "last_7_days", "last_30_days", "last_90_days"]


class ScanInput(BaseModel):
    platform: Platform
    topic: str = Field(min_length=2, max_length=200)
    # The content system spelled it dateRange; both spellings are accepted.
    date_range: DateRange = Field("last_7_days", validation_alias=AliasChoices("date_range", "dateRange"))
    limit: int = Field(5, ge=1, le=20, description="How many trends to return.")


class Trend(BaseModel):
    rank: int = Field(ge=1)
    name: str
    hashtag: str
    score: float = Field(ge=0, le=100, description="Relative popularity, 0 to 100.")
    growth_percent: float
    description: str


class Trends(BaseModel):
    platform: Platform
    topic: str
    date_range: DateRange
    trends: list[Trend] = Field(min_length=1)
