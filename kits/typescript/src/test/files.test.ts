// A reply's files: served as raw and url parts after the text and data (what the gateway keeps as
// the step's files), the same in-process through invokeSkill, and a malformed file named.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { z } from "zod";

import { Agent } from "../agent.js";
import { AgentService, InvokeResponseSchema } from "../gen/agentmesh/v1/agent_service_pb.js";
import type { FilePart } from "../index.js";
import { invokeSkill } from "../testing.js";
import { detailsOf, invokeBytes, request, serve, type Served, unary } from "./support.js";

const REPORT = new TextEncoder().encode("a report");

function filesAgent(): Agent {
  const agent = new Agent({ name: "filer", description: "Replies with files." });
  agent.skill({ id: "report", description: "A report and a link to its chart.", input: z.object({}) }, () =>
    Promise.resolve({
      text: "here it is",
      files: [
        { raw: REPORT, mediaType: "text/plain", filename: "report.txt" },
        { url: "https://example.com/chart.png", mediaType: "image/png", filename: "chart.png" },
      ],
    }),
  );
  // A plain object from untyped code (JSON, say): neither bytes nor a URL.
  const broken = { mediaType: "text/plain" } as unknown as FilePart;
  agent.skill({ id: "broken", description: "A file that is neither.", input: z.object({}) }, () => Promise.resolve({ files: [broken] }));
  return agent;
}

let served: Served;

before(async () => {
  served = await serve(filesAgent());
});

after(async () => {
  served.client.close();
  await served.server.stop(0);
});

void test("a reply's files go out as raw and url parts, with their media type and file name, after its text", async () => {
  const response = await unary(served.client, AgentService.method.invoke, InvokeResponseSchema, invokeBytes(request("report", {})));
  const parts = response.message?.parts ?? [];
  assert.deepEqual(
    parts.map((p) => [p.content.case, p.mediaType, p.filename]),
    [
      ["text", "text/markdown", ""],
      ["raw", "text/plain", "report.txt"],
      ["url", "image/png", "chart.png"],
    ],
  );
  assert.deepEqual(new Uint8Array(parts[1]?.content.value as Uint8Array), REPORT); // grpc-js decodes a Buffer
  assert.equal(parts[2]?.content.value, "https://example.com/chart.png");
});

void test("invokeSkill answers the same files in-process", async () => {
  const result = await invokeSkill(filesAgent(), "report", {});
  assert.equal(result.text, "here it is");
  assert.deepEqual(result.files, [
    { raw: REPORT, mediaType: "text/plain", filename: "report.txt" },
    { url: "https://example.com/chart.png", mediaType: "image/png", filename: "chart.png" },
  ]);
});

void test("a file that is neither bytes nor a URL is the agent's bug: INTERNAL, and invokeSkill names it", async () => {
  const error = await unary(served.client, AgentService.method.invoke, InvokeResponseSchema, invokeBytes(request("broken", {}))).then(
    () => assert.fail("accepted"),
    (e: unknown) => e as grpc.ServiceError,
  );
  assert.equal(error.code, grpc.status.INTERNAL);
  assert.equal(detailsOf(error).domain, "agentmesh");
  await assert.rejects(invokeSkill(filesAgent(), "broken", {}), /file 0, which needs exactly one of raw/);
});
