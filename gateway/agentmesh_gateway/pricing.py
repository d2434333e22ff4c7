"""What agent calls cost: the mesh file's prices per model, and usage added up by model.

Prices are per million tokens, input and output apart, in whatever unit the mesh file uses
(USD, say); a model without a price costs nothing, so a budget in cost counts only priced
models. A reply that does not say which model spent its tokens is priced by the model its
message names in `metadata.model`, if any.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agentmesh.v1 import agent_service_pb2 as agent_pb
from agentmesh.v1 import run_pb2
from agentmesh_gateway.payloads import to_python

PER_TOKENS = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    """Per million tokens."""

    input: float = 0.0
    output: float = 0.0


class Prices:
    def __init__(self, by_model: Mapping[str, Price] | None = None) -> None:
        self._by_model = dict(by_model or {})

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        price = self._by_model.get(model)
        if price is None:
            return 0.0
        return (input_tokens * price.input + output_tokens * price.output) / PER_TOKENS

    def of_reply(self, response: agent_pb.InvokeResponse) -> list[run_pb2.ModelUsage]:
        """A reply's usage by model, each with its cost."""
        usage = response.usage
        if usage.models:
            spent = [(m.model, m.input_tokens, m.output_tokens) for m in usage.models]
        elif usage.input_tokens or usage.output_tokens:
            named = to_python(response.message.metadata).get("model")
            spent = [(named if isinstance(named, str) else "", usage.input_tokens, usage.output_tokens)]
        else:
            spent = []
        return [
            run_pb2.ModelUsage(model=model, input_tokens=i, output_tokens=o, cost=self.cost(model, i, o))
            for model, i, o in spent
        ]


def add_usage(usage: run_pb2.Usage, models: Iterable[run_pb2.ModelUsage]) -> None:
    """Add what a call spent (by model) to a run's or a step's usage."""
    for spent in models:
        usage.input_tokens += spent.input_tokens
        usage.output_tokens += spent.output_tokens
        usage.cost += spent.cost
        for kept in usage.models:
            if kept.model == spent.model:
                kept.input_tokens += spent.input_tokens
                kept.output_tokens += spent.output_tokens
                kept.cost += spent.cost
                break
        else:
            usage.models.add().CopyFrom(spent)
