// What the kit's tests share: a test agent, a served instance on a loopback port, a raw client.
import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";
import { z } from "zod";

import { Agent } from "../agent.js";
import { AgentService, type InvokeRequest, InvokeRequestSchema } from "../gen/agentmesh/v1/agent_service_pb.js";
import { Offline } from "../llm/offline.js";
import type { Logger } from "../log.js";
import { AgentServer } from "../server.js";

export interface Seen {
  aborted: boolean;
  idempotencyKey?: string;
  traceId?: string;
}

export function testAgent(seen: Seen): Agent {
  const agent = new Agent({ name: "greeter", description: "Greets.", version: "0.1.0" });
  agent.skill(
    {
      id: "greet",
      description: "Greet someone.",
      streams: true,
      input: z.object({ name: z.string().min(1).max(20), times: z.int().min(1).max(3).default(1) }),
      output: z.object({ words: z.array(z.string()) }),
      examples: [{ name: "Ada", times: 2 }],
      aliases: { who: "name" },
    },
    async ({ name, times }, call) => {
      seen.idempotencyKey = call.idempotencyKey;
      seen.traceId = call.trace?.traceId;
      const words: string[] = [];
      for (let i = 0; i < times; i++) {
        await call.emit(`hello ${name}`);
        words.push(`hello ${name}`);
      }
      return { text: words.join(", "), data: { words } };
    },
  );
  agent.skill({ id: "wait", description: "Waits, honouring cancellation.", input: z.object({ ms: z.number() }) }, async ({ ms }, call) => {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      call.signal.addEventListener("abort", () => {
        seen.aborted = true;
        clearTimeout(timer);
        reject(call.signal.reason as Error);
      });
    });
    return { text: "waited" };
  });
  agent.skill({ id: "crash", description: "Fails unexpectedly.", input: z.object({}) }, () => Promise.reject(new Error("secret internals")));
  return agent;
}

export interface Served {
  server: AgentServer;
  client: grpc.Client;
  address: string;
}

export async function serve(agent: Agent, log?: Logger): Promise<Served> {
  const server = new AgentServer(agent, new Offline(agent.composers), log);
  const port = await server.listen("127.0.0.1", 0);
  const address = `127.0.0.1:${port}`;
  return { server, client: new grpc.Client(address, grpc.credentials.createInsecure()), address };
}

export function request(skill: string, data: Record<string, unknown>): InvokeRequest {
  return create(InvokeRequestSchema, {
    skill,
    message: { messageId: "m1", sender: "test", parts: [{ content: { case: "data", value: data as never } }] },
  });
}

type Method = (typeof AgentService.methods)[number];

export function unary<O extends DescMessage>(
  client: grpc.Client,
  method: Method,
  output: O,
  body: Uint8Array,
  options: { deadlineMs?: number; metadata?: Record<string, string> } = {},
): Promise<MessageShape<O>> {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(options.metadata ?? {})) {
    metadata.set(key, value);
  }
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      `/${AgentService.typeName}/${method.name}`,
      (value: Uint8Array) => Buffer.from(value),
      (bytes: Buffer) => fromBinary(output, bytes),
      body,
      metadata,
      { deadline: Date.now() + (options.deadlineMs ?? 5000) },
      (error, value) => {
        if (error || value === undefined) {
          reject(error ?? new Error("no value"));
        } else {
          resolve(value);
        }
      },
    );
  });
}

export function invokeBytes(message: InvokeRequest): Uint8Array {
  return toBinary(InvokeRequestSchema, message);
}

export interface Details {
  code: number;
  reason: string;
  domain: string;
  violations: { field: string; description: string }[];
}

/** google.rpc.Status from grpc-status-details-bin, with its ErrorInfo and BadRequest read. */
export function detailsOf(error: grpc.ServiceError): Details {
  const raw = error.metadata.get("grpc-status-details-bin")[0];
  if (!(raw instanceof Buffer)) {
    throw new Error("no status details");
  }
  const details: Details = { code: 0, reason: "", domain: "", violations: [] };
  const status = new BinaryReader(raw);
  while (status.pos < status.len) {
    const [field] = status.tag();
    if (field === 1) {
      details.code = status.int32();
    } else if (field === 2) {
      status.string();
    } else {
      const any = new BinaryReader(status.bytes());
      let typeUrl = "";
      let value: Uint8Array = new Uint8Array();
      while (any.pos < any.len) {
        const [f] = any.tag();
        if (f === 1) {
          typeUrl = any.string();
        } else {
          value = any.bytes();
        }
      }
      const body = new BinaryReader(value);
      while (body.pos < body.len) {
        const [f, wire] = body.tag();
        if (typeUrl.endsWith("ErrorInfo") && f === 1) {
          details.reason = body.string();
        } else if (typeUrl.endsWith("ErrorInfo") && f === 2) {
          details.domain = body.string();
        } else if (typeUrl.endsWith("BadRequest") && f === 1) {
          const violation = new BinaryReader(body.bytes());
          const entry = { field: "", description: "" };
          while (violation.pos < violation.len) {
            const [vf] = violation.tag();
            if (vf === 1) {
              entry.field = violation.string();
            } else {
              entry.description = violation.string();
            }
          }
          details.violations.push(entry);
        } else {
          body.skip(wire);
        }
      }
    }
  }
  return details;
}
