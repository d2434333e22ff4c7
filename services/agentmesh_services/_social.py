"""Vocabulary the content agents share."""

from __future__ import annotations

from typing import Literal

Platform = Literal["tiktok", "instagram", "youtube", "x", "linkedin", "facebook"]
