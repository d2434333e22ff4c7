// A skill that asks for input: the question goes out as input_required, and the skill is invoked
// again with the answer and the conversation so far, over a real grpc-js client.
import { create, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { z } from "zod";

import { Agent, ask } from "../agent.js";
import {
  AgentService,
  GetAgentCardResponseSchema,
  type InvokeResponse,
  InvokeResponseSchema,
  InvokeStreamRequestSchema,
  InvokeStreamResponseSchema,
} from "../gen/agentmesh/v1/agent_service_pb.js";
import { type AgentMessage, AgentMessageSchema, Role } from "../gen/agentmesh/v1/message_pb.js";
import { newLogger } from "../log.js";
import { invokeSkill } from "../testing.js";
import { detailsOf, invokeBytes, serve, type Served, unary } from "./support.js";

const Trip = z.object({ destination: z.string().min(1) });
const Budget = z.object({ euros: z.int().min(1) });
const Plan = z.object({ turn: z.int(), history: z.array(z.string()), answered: z.string() });

function planner(): Agent {
  const agent = new Agent({ name: "planner", description: "Plans trips, asking what it needs." });
  agent.skill(
    { id: "plan", description: "Plan a trip; asks for the budget first.", input: Trip, output: Plan, asksForInput: true, streams: true },
    async ({ destination }, call) => {
      await call.emit("thinking");
      if (call.answer === undefined) {
        return ask(`What is your budget for ${destination}?`, { schema: Budget, data: { currency: "EUR" } });
      }
      const budget = call.answerAs(Budget);
      return {
        text: `${destination} on ${budget.euros} EUR`,
        data: { turn: call.turn, history: call.history.map((m) => m.text), answered: call.answer.proto.messageId },
      };
    },
  );
  agent.skill(
    { id: "survey", description: "Two questions: one with a JSON Schema, one with none.", input: z.object({}), asksForInput: true },
    (_, call) => {
      if (call.turn === 0) {
        return Promise.resolve(ask("Pick one.", { schema: { type: "object", properties: { choice: { enum: ["a", "b"] } }, required: ["choice"] } }));
      }
      if (call.turn === 1) {
        return Promise.resolve(ask("Anything to add?"));
      }
      const choice = call.history[2]?.data.choice;
      return Promise.resolve({ text: `${String(choice)}; ${call.answer?.text ?? ""}` });
    },
  );
  agent.skill({ id: "rude", description: "Asks without saying it would.", input: Trip }, () => Promise.resolve(ask("Why?")));
  return agent;
}

const logs: string[] = [];
let served: Served;

before(async () => {
  served = await serve(
    planner(),
    newLogger((line) => logs.push(line), "json", "debug"),
  );
});

after(async () => {
  served.client.close();
  await served.server.stop(0);
});

const method = AgentService.method;

function message(data: Record<string, unknown>, id: string, text?: string): AgentMessage {
  return create(AgentMessageSchema, {
    messageId: id,
    contextId: "ctx-1",
    sender: "test",
    role: Role.USER,
    parts: [...(text ? [{ content: { case: "text" as const, value: text } }] : []), { content: { case: "data" as const, value: data as never } }],
  });
}

function invoke(skill: string, answer: AgentMessage, history: AgentMessage[] = []): Promise<InvokeResponse> {
  const body = invokeBytes(create(method.invoke.input, { skill, message: answer, history }));
  return unary(served.client, method.invoke, InvokeResponseSchema, body);
}

function refused(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  return promise.then(
    () => assert.fail("accepted"),
    (e: unknown) => e as grpc.ServiceError,
  );
}

async function stream(skill: string, answer: AgentMessage, history: AgentMessage[]): Promise<MessageShape<typeof InvokeStreamResponseSchema>[]> {
  const body = toBinary(InvokeStreamRequestSchema, create(InvokeStreamRequestSchema, { skill, message: answer, history }));
  const call = served.client.makeServerStreamRequest(
    `/${AgentService.typeName}/InvokeStream`,
    (value: Uint8Array) => Buffer.from(value),
    (bytes: Buffer) => fromBinary(InvokeStreamResponseSchema, bytes),
    body,
  );
  const events: MessageShape<typeof InvokeStreamResponseSchema>[] = [];
  for await (const event of call as AsyncIterable<MessageShape<typeof InvokeStreamResponseSchema>>) {
    events.push(event);
  }
  return events;
}

void test("the agent card says which skills ask for input", async () => {
  const { card } = await unary(served.client, method.getAgentCard, GetAgentCardResponseSchema, new Uint8Array());
  assert.deepEqual(Object.fromEntries((card?.skills ?? []).map((s) => [s.id, s.asksForInput])), { plan: true, survey: true, rude: false });
});

void test("Invoke: the skill asks, then answers from the first request's input and the answer", async () => {
  const first = message({ destination: "Lisbon" }, "m1");
  const asked = await invoke("plan", first);
  assert.ok(asked.inputRequired, "no input_required");
  assert.deepEqual(asked.inputRequired.answerSchema?.required, ["euros"]);
  assert.deepEqual(Object.keys(asked.inputRequired.answerSchema?.properties as object), ["euros"]);
  const question = asked.message;
  const [text, data] = question?.parts ?? [];
  assert.equal(text?.content.value, "What is your budget for Lisbon?");
  assert.deepEqual(data?.content.value, { currency: "EUR" });
  assert.deepEqual(
    { role: question?.role, context: question?.contextId, correlation: question?.correlationId, skill: question?.metadata?.skill },
    { role: Role.AGENT, context: "ctx-1", correlation: "m1", skill: "plan" },
  );

  const done = await invoke("plan", message({ euros: 900 }, "m2"), [first, question ?? create(AgentMessageSchema)]);
  assert.equal(done.inputRequired, undefined);
  assert.equal(done.message?.parts[0]?.content.value, "Lisbon on 900 EUR");
  assert.deepEqual(done.message?.parts[1]?.content.value, { turn: 1, history: ["", "What is your budget for Lisbon?"], answered: "m2" });
  assert.equal(done.message?.correlationId, "m2");
});

void test("InvokeStream: chunks, then a result carrying input_required; then the answer's result", async () => {
  const first = message({ destination: "Oslo" }, "m1");
  const asking = await stream("plan", first, []);
  assert.deepEqual(
    asking.map((e) => e.event.case),
    ["chunk", "result"],
  );
  const asked = asking[1]?.event.case === "result" ? asking[1].event.value : undefined;
  assert.deepEqual(asked?.inputRequired?.answerSchema?.required, ["euros"]);
  const done = await stream("plan", message({ euros: 50 }, "m2"), [first, asked?.message ?? create(AgentMessageSchema)]);
  const result = done.at(-1)?.event;
  assert.equal(result?.case, "result");
  assert.equal(result.value.inputRequired, undefined);
  assert.equal(result.value.message?.parts[0]?.content.value, "Oslo on 50 EUR");
});

void test("questions with a JSON Schema and with none; the turn counts the answered questions", async () => {
  const first = message({}, "m1");
  const pick = await invoke("survey", first);
  assert.deepEqual(pick.inputRequired?.answerSchema, { type: "object", properties: { choice: { enum: ["a", "b"] } }, required: ["choice"] });
  const choice = message({ choice: "b" }, "m2");
  const note = await invoke("survey", choice, [first, pick.message ?? create(AgentMessageSchema)]);
  assert.ok(note.inputRequired, "the second question is not input_required");
  assert.equal(note.inputRequired.answerSchema, undefined);
  const done = await invoke("survey", create(AgentMessageSchema, { messageId: "m3", parts: [{ content: { case: "text", value: "no" } }] }), [
    first,
    pick.message ?? create(AgentMessageSchema),
    choice,
    note.message ?? create(AgentMessageSchema),
  ]);
  assert.equal(done.inputRequired, undefined);
  assert.equal(done.message?.parts[0]?.content.value, "b; no");
});

void test("an answer that does not fit answerAs is INVALID_ARGUMENT, INVALID_ANSWER, naming answer.<field>", async () => {
  const first = message({ destination: "Rome" }, "m1");
  const asked = await invoke("plan", first);
  const error = await refused(invoke("plan", message({ euros: "lots" }, "m2"), [first, asked.message ?? create(AgentMessageSchema)]));
  assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
  const details = detailsOf(error);
  assert.equal(details.reason, "INVALID_ANSWER");
  assert.deepEqual(
    details.violations.map((v) => v.field),
    ["answer.euros"],
  );
});

void test("a skill that asks without declaring asksForInput fails INTERNAL, logged, and sends nothing else", async () => {
  logs.length = 0;
  const error = await refused(invoke("rude", message({ destination: "x" }, "m1")));
  assert.equal(error.code, grpc.status.INTERNAL);
  assert.ok(!error.details.includes("Why?"));
  assert.ok(
    logs.some((line) => line.includes("rpc failed unexpectedly") && line.includes("does not declare asksForInput")),
    logs.join(""),
  );
  const events: unknown[] = [];
  const streamed = await refused(stream("rude", message({ destination: "x" }, "m1"), []).then((e) => events.push(...e)));
  assert.equal(streamed.code, grpc.status.INTERNAL);
  assert.deepEqual(events, []);
});

void test("a history whose first message is not valid input is INVALID_ARGUMENT, as a first call would be", async () => {
  const bad = message({ destination: "" }, "m1");
  const asFirst = await refused(invoke("plan", bad));
  // the answer would be valid input: the input is the first message's all the same
  const answer = message({ destination: "Paris", euros: 10 }, "m2");
  const asHistory = await refused(invoke("plan", answer, [bad, create(AgentMessageSchema, { role: Role.AGENT })]));
  for (const error of [asFirst, asHistory]) {
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
    const details = detailsOf(error);
    assert.equal(details.reason, "INVALID_INPUT");
    assert.deepEqual(
      details.violations.map((v) => v.field),
      ["destination"],
    );
  }
});

void test("invokeSkill: a question, then the answer with the history", async () => {
  const agent = planner();
  const asked = await invokeSkill(agent, "plan", { destination: "Bergen" });
  assert.equal(asked.text, "What is your budget for Bergen?");
  assert.deepEqual(asked.inputRequired?.answerSchema?.required, ["euros"]);
  const history = [{ data: { destination: "Bergen" } }, { text: asked.text, ...(asked.data ? { data: asked.data } : {}) }];
  const done = await invokeSkill(agent, "plan", { euros: 70 }, { history });
  assert.equal(done.inputRequired, undefined);
  assert.equal(done.text, "Bergen on 70 EUR");
  await assert.rejects(invokeSkill(agent, "plan", { euros: 0 }, { history }), (e: Error & { reason?: string }) => e.reason === "INVALID_ANSWER");
  await assert.rejects(invokeSkill(agent, "rude", { destination: "x" }), /does not declare asksForInput/);
});
