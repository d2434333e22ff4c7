// The kit against a real grpc-js client, over a loopback port.
import { fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  AgentService,
  GetAgentCardResponseSchema,
  InvokeResponseSchema,
  InvokeStreamResponseSchema,
  InvokeStreamRequestSchema,
} from "../gen/agentmesh/v1/agent_service_pb.js";
import { create, toBinary } from "@bufbuild/protobuf";
import { detailsOf, invokeBytes, request, type Seen, serve, type Served, testAgent, unary } from "./support.js";

const seen: Seen = { aborted: false };
let served: Served;

before(async () => {
  served = await serve(testAgent(seen));
});

after(async () => {
  served.client.close();
  await served.server.stop(0);
});

const method = AgentService.method;

void test("Invoke validates, applies defaults and aliases, and answers text and typed data", async () => {
  const response = await unary(served.client, method.invoke, InvokeResponseSchema, invokeBytes(request("greet", { who: "Ada" })));
  const [text, data] = response.message?.parts ?? [];
  assert.equal(text?.content.value, "hello Ada");
  assert.equal(text?.mediaType, "text/markdown");
  assert.deepEqual(data?.content.value, { words: ["hello Ada"] });
  assert.equal(data?.mediaType, "application/json");
  assert.deepEqual(
    { agent: response.message?.metadata?.agent, skill: response.message?.metadata?.skill, llm: response.message?.metadata?.llm_provider },
    { agent: "greeter", skill: "greet", llm: "offline" },
  );
  assert.equal(response.message?.correlationId, "m1");
  assert.equal(response.message?.receiver, "test");
});

void test("invalid input is INVALID_ARGUMENT with ErrorInfo and BadRequest naming each field, bounded", async () => {
  const body = invokeBytes(request("greet", { times: 9, extra: "x".repeat(1 << 20) }));
  const error = await unary(served.client, method.invoke, InvokeResponseSchema, body).then(
    () => assert.fail("accepted"),
    (e: unknown) => e as grpc.ServiceError,
  );
  assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
  const details = detailsOf(error);
  assert.deepEqual([details.domain, details.reason], ["agentmesh", "INVALID_INPUT"]);
  assert.deepEqual(details.violations.map((v) => v.field).sort(), ["name", "times"]);
  assert.ok(error.details.length <= 1024);
});

void test("an unknown skill, a missing message and malformed bytes are INVALID_ARGUMENT with their reasons", async () => {
  const cases: [Uint8Array, string][] = [
    [invokeBytes(request("nope", {})), "UNKNOWN_SKILL"],
    [toBinary(InvokeStreamRequestSchema, create(InvokeStreamRequestSchema, { skill: "greet" })), "MISSING_REQUIRED_FIELD"],
    [new Uint8Array([0x0a, 0xff, 0xff]), "MALFORMED_REQUEST"],
  ];
  for (const [body, reason] of cases) {
    const error = await unary(served.client, method.invoke, InvokeResponseSchema, body).then(
      () => assert.fail(`accepted, expected ${reason}`),
      (e: unknown) => e as grpc.ServiceError,
    );
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT, reason);
    assert.equal(detailsOf(error).reason, reason);
  }
});

void test("an unexpected error is INTERNAL without its text", async () => {
  const error = await unary(served.client, method.invoke, InvokeResponseSchema, invokeBytes(request("crash", {}))).then(
    () => assert.fail("accepted"),
    (e: unknown) => e as grpc.ServiceError,
  );
  assert.equal(error.code, grpc.status.INTERNAL);
  assert.ok(!error.details.includes("secret"));
});

void test("the caller's deadline aborts the handler", async () => {
  seen.aborted = false;
  const error = await unary(served.client, method.invoke, InvokeResponseSchema, invokeBytes(request("wait", { ms: 30_000 })), { deadlineMs: 200 }).then(
    () => assert.fail("answered"),
    (e: unknown) => e as grpc.ServiceError,
  );
  assert.equal(error.code, grpc.status.DEADLINE_EXCEEDED);
  for (let i = 0; i < 100 && !seen.aborted; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(seen.aborted, "the handler's signal never aborted");
});

void test("the idempotency key and the W3C traceparent reach the handler", async () => {
  await unary(served.client, method.invoke, InvokeResponseSchema, invokeBytes(request("greet", { name: "Ada" })), {
    metadata: { "agentmesh-idempotency-key": "run1/step/1", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
  });
  assert.equal(seen.idempotencyKey, "run1/step/1");
  assert.equal(seen.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
});

void test("InvokeStream sends indexed chunks, then exactly one result", async () => {
  const body = toBinary(InvokeStreamRequestSchema, create(InvokeStreamRequestSchema, { skill: "greet", message: request("greet", { name: "Bo", times: 3 }).message }));
  const stream = served.client.makeServerStreamRequest(
    `/${AgentService.typeName}/InvokeStream`,
    (value: Uint8Array) => Buffer.from(value),
    (bytes: Buffer) => fromBinary(InvokeStreamResponseSchema, bytes),
    body,
  );
  const events: { case: string | undefined; index?: number; text?: string }[] = [];
  for await (const event of stream as AsyncIterable<ReturnType<typeof fromBinary<typeof InvokeStreamResponseSchema>>>) {
    events.push(event.event.case === "chunk" ? { case: "chunk", index: event.event.value.index, text: event.event.value.text } : { case: event.event.case });
  }
  assert.deepEqual(
    events.map((e) => e.case),
    ["chunk", "chunk", "chunk", "result"],
  );
  assert.deepEqual(
    events.slice(0, 3).map((e) => e.index),
    [0, 1, 2],
  );
});

void test("the agent card carries each skill's JSON Schemas and examples", async () => {
  const response = await unary(served.client, method.getAgentCard, GetAgentCardResponseSchema, new Uint8Array());
  const card = response.card;
  assert.equal(card?.name, "greeter");
  assert.equal(card?.streaming, true);
  const greet = card?.skills[0];
  assert.deepEqual(greet?.inputSchema?.required, ["name"]);
  assert.deepEqual((greet?.inputSchema?.properties as Record<string, Record<string, unknown>>).times, { type: "integer", minimum: 1, maximum: 3, default: 1 });
  assert.ok(greet?.outputSchema);
  assert.equal(greet?.inputExamples.length, 1);
});
