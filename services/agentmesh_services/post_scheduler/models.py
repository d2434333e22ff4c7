"""The post scheduler's input and output shapes."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator

from agentmesh_services._social import Platform


class ScriptRef(BaseModel):
    """The fields of a script the scheduler uses; a video scriptor's script fits."""

    title: str = Field(min_length=1)
    hook: str = ""
    call_to_action: str = ""
    hashtags: list[str] = Field(default_factory=list)


class ScheduleInput(BaseModel):
    platforms: list[Platform] = Field(min_length=1)
    script: ScriptRef | str = Field(description="The script to publish, or its title.")
    start: datetime | None = Field(
        None, description="ISO 8601; the first post goes out after it. Default: now."
    )
    timezone: str = Field("UTC", description="IANA time zone the schedule is planned in.")
    posts_per_platform: int = Field(1, ge=1, le=7, description="Posts per platform, one per day.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


class Captions(BaseModel):
    captions: dict[str, str] = Field(description="A caption per platform name.")


class Post(BaseModel):
    platform: Platform
    scheduled_time: str = Field(description="ISO 8601 with the zone's UTC offset.")
    caption: str
    hashtags: list[str]


class Schedule(BaseModel):
    timezone: str
    posts: list[Post] = Field(min_length=1)
