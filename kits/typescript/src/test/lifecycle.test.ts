// Health, reflection and drain, against a real grpc-js client.
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { test } from "node:test";

import { AgentService, InvokeResponseSchema } from "../gen/agentmesh/v1/agent_service_pb.js";
import { invokeBytes, request, type Seen, serve, testAgent, unary } from "./support.js";

const identity = (b: Buffer): Buffer => b;
const SERVING = 1;
const NOT_SERVING = 2;

function healthRequest(service: string): Buffer {
  return Buffer.from(new BinaryWriter().uint32(10).string(service).finish());
}

function statusOf(bytes: Buffer): number {
  const reader = new BinaryReader(bytes);
  let status = 0;
  while (reader.pos < reader.len) {
    reader.tag();
    status = reader.int32();
  }
  return status;
}

function check(client: grpc.Client, service: string): Promise<number> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest("/grpc.health.v1.Health/Check", identity, identity, healthRequest(service), (error, value) => {
      if (error || !value) {
        reject(error ?? new Error("no answer"));
      } else {
        resolve(statusOf(value));
      }
    });
  });
}

void test("health answers SERVING for the server and the agent service; reflection lists both", async () => {
  const { server, client } = await serve(testAgent({ aborted: false }));
  try {
    assert.equal(await check(client, ""), SERVING);
    assert.equal(await check(client, AgentService.typeName), SERVING);
    const stream = client.makeBidiStreamRequest("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", identity, identity);
    stream.on("error", () => undefined); // closing the client cancels the stream
    const answer = new Promise<Buffer>((resolve) => stream.once("data", resolve));
    stream.write(Buffer.from(new BinaryWriter().uint32(58).string("").finish()));
    const text = (await answer).toString("latin1");
    stream.end();
    assert.ok(text.includes(AgentService.typeName) && text.includes("grpc.health.v1.Health"));
    assert.ok(!text.includes("OrchestratorService"), "reflection lists a service the agent does not serve");
  } finally {
    client.close();
    await server.stop(0);
  }
});

void test("stop turns health NOT_SERVING for watchers and lets an in-flight call finish", async () => {
  const { server, client } = await serve(testAgent({ aborted: false }));
  const statuses: number[] = [];
  const watch = client.makeServerStreamRequest("/grpc.health.v1.Health/Watch", identity, identity, healthRequest(""));
  watch.on("data", (bytes: Buffer) => statuses.push(statusOf(bytes)));
  watch.on("error", () => undefined);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const inFlight = unary(client, AgentService.method.invoke, InvokeResponseSchema, invokeBytes(request("wait", { ms: 500 })));
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(server.inFlight, 1);
  const stopped = server.stop(5000);
  const reply = await inFlight;
  assert.equal(reply.message?.parts[0]?.content.value, "waited");
  await stopped;
  assert.deepEqual(statuses, [SERVING, NOT_SERVING]);
  client.close();
});

void test("a call still running after the grace is cancelled, and stop still returns", async () => {
  const seen: Seen = { aborted: false };
  const { server, client } = await serve(testAgent(seen));
  const outcome = unary(client, AgentService.method.invoke, InvokeResponseSchema, invokeBytes(request("wait", { ms: 20_000 })), {
    deadlineMs: 30_000,
  }).then(
    () => grpc.status.OK,
    (error: unknown) => (error as grpc.ServiceError).code,
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  await server.stop(200);
  assert.ok([grpc.status.CANCELLED, grpc.status.UNAVAILABLE].includes(await outcome));
  assert.ok(seen.aborted);
  client.close();
});
