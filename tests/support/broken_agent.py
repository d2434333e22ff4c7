"""An agent that gets the contract wrong on purpose, for testing the conformance kit.

It serves AgentService on a plain grpc.aio server (not the agentmesh runtime): health
says NOT_SERVING for the agent service, there is no reflection, its card's example does
not fit its input schema and it has no output schema, it answers invalid input with
INTERNAL and an unknown skill with success, a call with a short deadline with UNKNOWN, its
stream sends two results, its echo replies with a direct message its card does not declare, and
its skill that says it asks for input forgets the conversation's context_id in its question.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from agentmesh.messages import Message, MessageType, Role
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class Broken(pb_grpc.AgentServiceServicer):
    async def GetAgentCard(
        self, request: pb.GetAgentCardRequest, context: Context
    ) -> pb.GetAgentCardResponse:
        card = pb.AgentCard(name="broken", version="0.0.0")
        skill = card.skills.add(id="echo", name="Echo")
        skill.input_schema.update(
            {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
        )
        skill.input_examples.add().update({"text": 42})  # does not fit its own schema
        quiz = card.skills.add(id="quiz", name="Quiz", asks_for_input=True)
        quiz.input_schema.update({"type": "object", "properties": {"text": {"type": "string"}}})
        quiz.input_examples.add().update({"text": "go"})
        return pb.GetAgentCardResponse(card=card)

    async def Invoke(self, request: pb.InvokeRequest, context: Context) -> pb.InvokeResponse:
        remaining = context.time_remaining()
        if remaining is not None and remaining < 0.5:
            await context.abort(grpc.StatusCode.UNKNOWN, "no time to answer")
        data = Message.from_proto(request.message).data
        if request.skill == "quiz":
            question = Message.request(text="Ready?", sender="broken").to_proto()  # no context_id
            return pb.InvokeResponse(message=question, input_required=pb.InputRequired())
        if "text" not in data and request.skill == "echo":
            await context.abort(grpc.StatusCode.INTERNAL, "KeyError: 'text'")
        reply = Message.request({"echo": data}, sender="broken")
        reply = Message(parts=reply.parts, sender="broken", role=Role.AGENT, type=MessageType.RESPONSE)
        # A direct message, from a skill whose card does not say it may send one.
        return pb.InvokeResponse(message=reply.to_proto(), direct=True)

    async def InvokeStream(self, request: pb.InvokeStreamRequest, context: Context) -> Any:
        answer = await self.Invoke(pb.InvokeRequest(message=request.message, skill=request.skill), context)
        for _ in range(2):
            yield pb.InvokeStreamResponse(result=answer)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_AgentServiceServicer_to_server(Broken(), server)
    checker = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    await server.start()
    await checker.set("", health_pb2.HealthCheckResponse.SERVING)
    await checker.set("agentmesh.v1.AgentService", health_pb2.HealthCheckResponse.NOT_SERVING)
    print(json.dumps({"msg": "listening", "port": port}), file=sys.stderr, flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
