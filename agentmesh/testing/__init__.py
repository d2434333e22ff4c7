"""Testing an agent's skills in-process, without a server or a process.

`SkillEnvironment` calls a skill the way the gRPC servicer does (the same request
parsing and validation, a real `Context`, the same reply conversion), with an LLM
provider of the test's choosing: by default the offline provider answering with the
agent's own offline composers, so a test needs no network and no environment::

    from agentmesh.testing import SkillEnvironment
    from my_agent import agent

    async def test_greets() -> None:
        env = SkillEnvironment(agent)
        result = await env.invoke("greet", {"name": "Ada"})
        assert result.data == {"greeting": "Hello, Ada!"}

The request and the reply pass through their protobuf form, as on the wire, so
`result.data` is what a caller reads and a reply the server could not send fails here
too. Invalid input raises the `InvalidInput` the server would answer with (its field
violations included); a provider's failure propagates as the provider error the server
would send; `stream=True` collects what the handler streams in `result.chunks`;
`timeout=` is the caller's deadline (the handler sees it in `ctx.time_remaining()` and is
cancelled when it passes, raising `DeadlineExceeded`); cancelling the task that awaits
`invoke` cancels the handler, as a caller's cancel does.
"""

from agentmesh.testing._environment import SkillEnvironment, SkillResult

__all__ = ["SkillEnvironment", "SkillResult"]
