// A direct reply ({ direct: true }): a message in its own right, not a task's result. The server says
// so on the reply and on the card, invokeSkill the same, and a skill that replies directly without
// declaring directReplies is the agent's bug.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { z } from "zod";

import { Agent } from "../agent.js";
import { AgentService, GetAgentCardResponseSchema, InvokeResponseSchema } from "../gen/agentmesh/v1/agent_service_pb.js";
import { invokeSkill } from "../testing.js";
import { invokeBytes, request, serve, type Served, unary } from "./support.js";

function directAgent(): Agent {
  const agent = new Agent({ name: "greeter", description: "Greets, directly when asked to." });
  const Greet = z.object({ name: z.string(), direct: z.boolean().default(true) });
  agent.skill({ id: "greet", description: "Say hello, as a message or a task's result.", input: Greet, directReplies: true }, (input) =>
    Promise.resolve({ text: `Hello, ${input.name}!`, direct: input.direct }),
  );
  agent.skill({ id: "sneaky", description: "Replies directly without saying it would.", input: Greet }, () => Promise.resolve({ text: "hi", direct: true }));
  return agent;
}

let served: Served;

before(async () => {
  served = await serve(directAgent());
});

after(async () => {
  served.client.close();
  await served.server.stop(0);
});

void test("the card says which skills may reply directly, and the reply says it is direct", async () => {
  const { card } = await unary(served.client, AgentService.method.getAgentCard, GetAgentCardResponseSchema, new Uint8Array());
  assert.deepEqual(Object.fromEntries((card?.skills ?? []).map((s) => [s.id, s.directReplies])), { greet: true, sneaky: false });
  const replied = await unary(served.client, AgentService.method.invoke, InvokeResponseSchema, invokeBytes(request("greet", { name: "Ada" })));
  assert.equal(replied.direct, true);
  assert.equal(replied.message?.parts[0]?.content.value, "Hello, Ada!");
  const plain = await unary(served.client, AgentService.method.invoke, InvokeResponseSchema, invokeBytes(request("greet", { name: "Ada", direct: false })));
  assert.equal(plain.direct, false);
});

void test("invokeSkill tells a direct reply the same", async () => {
  assert.equal((await invokeSkill(directAgent(), "greet", { name: "Ada" })).direct, true);
  assert.equal((await invokeSkill(directAgent(), "greet", { name: "Ada", direct: false })).direct, undefined);
});

void test("a skill that replies directly without declaring directReplies fails INTERNAL", async () => {
  const error = await unary(served.client, AgentService.method.invoke, InvokeResponseSchema, invokeBytes(request("sneaky", { name: "x" }))).then(
    () => assert.fail("accepted"),
    (e: unknown) => e as grpc.ServiceError,
  );
  assert.equal(error.code, grpc.status.INTERNAL);
  await assert.rejects(invokeSkill(directAgent(), "sneaky", { name: "x" }), /does not declare directReplies/);
});
