"""What the tests share: the mesh harness, the in-process engine harness, generated workflows,
hostile-input helpers, raw-RPC helpers, sample inputs, the probe agent and the LLM API fakes."""

from pathlib import Path

#: The repository's root.
ROOT = Path(__file__).resolve().parents[2]
