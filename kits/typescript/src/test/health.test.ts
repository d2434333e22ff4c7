// grpc.health.v1 as the kit serves it (no grpc-health-check): Check, Watch and List, unknown
// services and undecodable requests, against a real grpc-js client.
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { AgentService } from "../gen/agentmesh/v1/agent_service_pb.js";
import { type Served, serve, testAgent } from "./support.js";

const identity = (b: Buffer): Buffer => b;
const SERVING = 1;
const SERVICE_UNKNOWN = 3;

let served: Served;

before(async () => {
  served = await serve(testAgent({ aborted: false }));
});

after(async () => {
  served.client.close();
  await served.server.stop(0);
});

function call(method: string, body: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    served.client.makeUnaryRequest(`/grpc.health.v1.Health/${method}`, identity, identity, Buffer.from(body), (error, value) => {
      if (error || !value) {
        reject(error ?? new Error("no answer"));
      } else {
        resolve(value);
      }
    });
  });
}

function named(service: string): Uint8Array {
  return new BinaryWriter().uint32(10).string(service).finish();
}

function statusOf(bytes: Uint8Array): number {
  const reader = new BinaryReader(bytes);
  let status = 0;
  while (reader.pos < reader.len) {
    reader.tag();
    status = reader.int32();
  }
  return status;
}

void test("Check answers a known service, and NOT_FOUND for one it does not know", async () => {
  assert.equal(statusOf(await call("Check", named(AgentService.typeName))), SERVING);
  assert.equal(statusOf(await call("Check", new Uint8Array())), SERVING, "no service named: the server as a whole");
  const error = await call("Check", named("no.Such")).then(
    () => assert.fail("answered"),
    (e: unknown) => e as grpc.ServiceError,
  );
  assert.equal(error.code, grpc.status.NOT_FOUND);
  assert.equal(error.details, "Health status unknown for service no.Such");
});

void test("List answers every service's status", async () => {
  const reader = new BinaryReader(await call("List", new Uint8Array()));
  const statuses: Record<string, number> = {};
  while (reader.pos < reader.len) {
    reader.tag();
    const entry = new BinaryReader(reader.bytes());
    let key = "";
    let value = 0;
    while (entry.pos < entry.len) {
      const [field] = entry.tag();
      if (field === 1) {
        key = entry.string();
      } else {
        value = statusOf(entry.bytes());
      }
    }
    statuses[key] = value;
  }
  assert.deepEqual(statuses, { "": SERVING, [AgentService.typeName]: SERVING });
});

void test("Watch of a service the server does not know says SERVICE_UNKNOWN and stays open", async () => {
  const watch = served.client.makeServerStreamRequest("/grpc.health.v1.Health/Watch", identity, identity, Buffer.from(named("no.Such")));
  watch.on("error", () => undefined); // cancelled below
  const first = await new Promise<Buffer>((resolve) => watch.once("data", resolve));
  assert.equal(statusOf(first), SERVICE_UNKNOWN);
  watch.cancel();
});

void test("a request that does not decode is INVALID_ARGUMENT, MALFORMED_REQUEST, for Check, Watch and List", async () => {
  for (const method of ["Check", "List"]) {
    const error = await call(method, new Uint8Array([0x0a, 0x7f, 0x01])).then(
      () => assert.fail(`${method} answered`),
      (e: unknown) => e as grpc.ServiceError,
    );
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT, method);
    assert.match(error.details, /not a valid grpc\.health\.v1\.Health(Check|List)Request/);
  }
  const invalidUtf8 = Buffer.from([0x0a, 0x02, 0xff, 0xfe]);
  const watch = served.client.makeServerStreamRequest("/grpc.health.v1.Health/Watch", identity, identity, invalidUtf8);
  const error = await new Promise<grpc.ServiceError>((resolve) => watch.once("error", resolve));
  assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
});
