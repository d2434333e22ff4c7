"""LLM providers, chosen by the AGENTMESH_LLM environment variable.

- ``offline`` (default): deterministic, no network, no key.
- ``gemini``: Gemini via google-genai (``pip install 'agentmesh[gemini]'``); key from
  GOOGLE_API_KEY or GEMINI_API_KEY, model from AGENTMESH_GEMINI_MODEL, endpoint from
  AGENTMESH_GEMINI_BASE_URL.
- ``openai``: any OpenAI-compatible server (``pip install 'agentmesh[openai]'``);
  AGENTMESH_OPENAI_BASE_URL, AGENTMESH_OPENAI_MODEL, and AGENTMESH_OPENAI_API_KEY or
  OPENAI_API_KEY if it needs one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from agentmesh.errors import ProviderAuthError, ProviderError
from agentmesh.extras import require_extra
from agentmesh.llm.base import Generation, GenerationChunk, LLMProvider, Prompt, Turn, complete
from agentmesh.llm.offline import Composer, OfflineProvider

__all__ = [
    "Composer",
    "Generation",
    "GenerationChunk",
    "LLMProvider",
    "OfflineProvider",
    "Prompt",
    "Turn",
    "complete",
    "provider_from_env",
]

PROVIDERS = ("offline", "gemini", "openai")


def provider_from_env(
    composers: Mapping[str, Composer] | None = None, env: Mapping[str, str] | None = None
) -> LLMProvider:
    """Build the provider the environment asks for. SDKs load only when chosen, keeping agents light;
    one chosen but not installed raises MissingExtra (the pip command that installs it)."""
    env = os.environ if env is None else env
    choice = env.get("AGENTMESH_LLM", "offline").strip().lower() or "offline"
    if choice == "offline":
        latency_ms = float(env.get("AGENTMESH_OFFLINE_LATENCY_MS", "0") or 0)
        return OfflineProvider(composers, latency_s=latency_ms / 1000)
    if choice == "gemini":
        require_extra("gemini", "AGENTMESH_LLM=gemini")
        from agentmesh.llm.gemini import DEFAULT_MODEL, GeminiProvider

        key = env.get("GOOGLE_API_KEY") or env.get("GEMINI_API_KEY")
        if not key:
            raise ProviderAuthError("AGENTMESH_LLM=gemini needs GOOGLE_API_KEY or GEMINI_API_KEY")
        return GeminiProvider(
            api_key=key,
            model=env.get("AGENTMESH_GEMINI_MODEL", DEFAULT_MODEL),
            base_url=env.get("AGENTMESH_GEMINI_BASE_URL") or None,
        )
    if choice == "openai":
        require_extra("openai", "AGENTMESH_LLM=openai")
        from agentmesh.llm import openai_compat

        return openai_compat.OpenAICompatibleProvider(
            base_url=env.get("AGENTMESH_OPENAI_BASE_URL", openai_compat.DEFAULT_BASE_URL),
            model=env.get("AGENTMESH_OPENAI_MODEL", openai_compat.DEFAULT_MODEL),
            api_key=env.get("AGENTMESH_OPENAI_API_KEY") or env.get("OPENAI_API_KEY", ""),
        )
    raise ProviderError(
        f"AGENTMESH_LLM={choice!r} is not one of {', '.join(PROVIDERS)}", reason="LLM_UNKNOWN"
    )
