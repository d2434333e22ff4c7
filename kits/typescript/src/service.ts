// agentmesh.v1.AgentService for one agent: protobuf in, typed values to the handler, protobuf
// out. Every error leaves through toServiceError, so every status carries ErrorInfo.
import { create, fromBinary, type JsonObject, type Message, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import { status as Status } from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";

import type { Agent, SkillAnswer } from "./agent.js";
import { Call } from "./call.js";
import { contentOf, conversationMessage } from "./conversation.js";
import { AgentError, statusOf, toServiceError } from "./errors.js";
import {
  type AgentCard,
  AgentCardSchema,
  AgentService,
  GetAgentCardResponseSchema,
  InputRequiredSchema,
  type InvokeResponse,
  InvokeResponseSchema,
  InvokeStreamResponseSchema,
  SkillSchema,
} from "./gen/agentmesh/v1/agent_service_pb.js";
import { type AgentMessage, AgentMessageSchema, MessageType, PartSchema, Role, TokenUsageSchema } from "./gen/agentmesh/v1/message_pb.js";
import type { Provider } from "./llm/provider.js";
import type { Metrics } from "./metrics.js";
import type { Tracing } from "./telemetry.js";
import type { Logger } from "./log.js";
import { checkRequired } from "./required.js";
import { decodeRequest, Malformed, type MalformedRequests } from "./decode.js";

const DEADLINE_SLACK_MS = 100;

/** Why a call was cancelled, as the logs of every runtime name it. */
export type CancelCause = "deadline exceeded" | "cancelled by the caller" | "server shutting down";

export class Cancelled extends Error {
  constructor(readonly why: CancelCause) {
    super(why);
    this.name = "Cancelled";
  }
}

/** A request as it arrives: decoded, or Malformed (answered INVALID_ARGUMENT, not INTERNAL). */
type Decoded<T> = T | Malformed;

export interface ServiceOptions {
  agent: Agent;
  llm: Provider;
  log: Logger;
  /** Tracks a call from start to end: the server counts and cancels them. */
  track: (controller: AbortController) => () => void;
  /** Counts and times calls, and model tokens, for Prometheus (see metrics.ts). */
  metrics?: Metrics | undefined;
  /** Makes a server span of each call (see telemetry.ts). */
  tracing?: Tracing | undefined;
  /** Answers requests that did not decode, for every service of the server. */
  malformed: MalformedRequests;
}

/** The grpc-js definition and handlers of AgentService, from its protobuf-es descriptors. */
export function agentService(options: ServiceOptions): { definition: grpc.ServiceDefinition; handlers: grpc.UntypedServiceImplementation } {
  const definition: Record<string, grpc.MethodDefinition<Decoded<Message>, Message> & { requestType: string }> = {};
  for (const method of AgentService.methods) {
    definition[method.name] = {
      path: `/${AgentService.typeName}/${method.name}`,
      requestStream: false,
      responseStream: method.methodKind === "server_streaming",
      requestSerialize: (value: Decoded<Message>) => Buffer.from(value instanceof Malformed ? new Uint8Array() : toBinary(method.input, value)),
      requestDeserialize: (bytes: Buffer): Decoded<Message> => decodeRequest(method.input, bytes),
      requestType: method.input.typeName,
      responseSerialize: (value: Message) => Buffer.from(toBinary(method.output, value)),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
    };
  }
  const service = new Service(options);
  const { metrics, tracing, malformed } = options;
  // A request that did not decode is answered before any handler sees it, and logged sparingly.
  const refused = (method: string, request: Decoded<Message>): Partial<grpc.ServiceError> | undefined => {
    if (!(request instanceof Malformed)) {
      return undefined;
    }
    const { path, requestType } = definition[method] as grpc.MethodDefinition<Message, Message> & { requestType: string };
    return toServiceError(malformed.refusal(path, requestType, request));
  };
  // Each handler resolves to its call's status code, which metrics count and spans record.
  const timed = <A extends [{ metadata: grpc.Metadata }, ...unknown[]]>(type: string, method: string, handle: (...args: A) => Promise<number>) => {
    if (metrics === undefined && tracing === undefined) {
      return (...args: A): void => {
        void handle(...args);
      };
    }
    return (...args: A): void => {
      metrics?.started(type, AgentService.typeName, method);
      const parent = args[0].metadata.get("traceparent")[0];
      const span = tracing?.start(`${AgentService.typeName}/${method}`, typeof parent === "string" ? parent : undefined);
      const begun = performance.now();
      void handle(...args).then((code) => {
        metrics?.handled(type, AgentService.typeName, method, code, (performance.now() - begun) / 1000);
        span?.end(code);
      });
    };
  };
  return {
    definition: definition,
    handlers: {
      Invoke: timed("unary", "Invoke", (call: grpc.ServerUnaryCall<Decoded<Message>, InvokeResponse>, callback: grpc.sendUnaryData<InvokeResponse>) => {
        const refusal = refused("Invoke", call.request);
        if (refusal !== undefined) {
          callback(refusal);
          return Promise.resolve(Status.INVALID_ARGUMENT);
        }
        return service.invoke(call, callback);
      }),
      InvokeStream: timed("server_stream", "InvokeStream", (call: grpc.ServerWritableStream<Decoded<Message>, Message>) => {
        const refusal = refused("InvokeStream", call.request);
        if (refusal !== undefined) {
          call.emit("error", refusal);
          return Promise.resolve(Status.INVALID_ARGUMENT);
        }
        return service.invokeStream(call);
      }),
      GetAgentCard: timed("unary", "GetAgentCard", (call: grpc.ServerUnaryCall<Decoded<Message>, Message>, callback: grpc.sendUnaryData<Message>) => {
        const refusal = refused("GetAgentCard", call.request);
        if (refusal !== undefined) {
          callback(refusal);
          return Promise.resolve(Status.INVALID_ARGUMENT);
        }
        callback(null, create(GetAgentCardResponseSchema, { card: service.card() }));
        return Promise.resolve(Status.OK);
      }),
    },
  };
}

interface RequestFields {
  skill: string;
  message?: AgentMessage;
  history: AgentMessage[];
}

class Service {
  constructor(private readonly options: ServiceOptions) {}

  // A call is tracked until its answer is handed to grpc-js, so a draining server waits for it.
  // Each resolves to the call's status code.
  async invoke(call: grpc.ServerUnaryCall<Decoded<Message>, InvokeResponse>, callback: grpc.sendUnaryData<InvokeResponse>): Promise<number> {
    const controller = new AbortController();
    const untrack = this.options.track(controller);
    try {
      callback(null, await this.run(call, "Invoke", controller, undefined));
      return Status.OK;
    } catch (error) {
      const failure = this.fail(error, "Invoke");
      callback(failure);
      return failure.code ?? Status.UNKNOWN;
    } finally {
      untrack();
    }
  }

  async invokeStream(call: grpc.ServerWritableStream<Decoded<Message>, Message>): Promise<number> {
    let index = 0;
    const emit = async (text: string): Promise<void> => {
      const chunk = create(InvokeStreamResponseSchema, { event: { case: "chunk", value: { index: index++, text } } });
      if (!call.write(chunk)) {
        await new Promise<void>((resolve) => call.once("drain", resolve));
      }
    };
    const controller = new AbortController();
    const untrack = this.options.track(controller);
    try {
      const result = await this.run(call, "InvokeStream", controller, emit);
      call.write(create(InvokeStreamResponseSchema, { event: { case: "result", value: result } }));
      call.end();
      return Status.OK;
    } catch (error) {
      const failure = this.fail(error, "InvokeStream");
      call.emit("error", failure);
      return failure.code ?? Status.UNKNOWN;
    } finally {
      untrack();
    }
  }

  private async run(
    call: grpc.ServerUnaryCall<Decoded<Message>, unknown> | grpc.ServerWritableStream<Decoded<Message>, unknown>,
    method: string,
    controller: AbortController,
    emit: ((text: string) => Promise<void>) | undefined,
  ): Promise<InvokeResponse> {
    const request = call.request as Message;
    checkRequired(request.$typeName === "agentmesh.v1.InvokeRequest" ? AgentService.method.invoke.input : AgentService.method.invokeStream.input, request);
    const { skill: skillId, message, history } = request as unknown as RequestFields;
    const { agent, llm, log } = this.options;
    const skill = agent.find(skillId);
    // On a later turn of a conversation the input is the first request's; `message` is the answer.
    const { text, data } = contentOf(history[0] ?? message);
    if (text && !("text" in data)) {
      data.text = text;
    }
    const onCancelled = (): void => {
      // A client cancels at its own deadline, which the server, having started its clock when the
      // request arrived, reaches a network delay later: a cancellation that close is the deadline.
      const deadline = call.getDeadline();
      const at = deadline instanceof Date ? deadline.getTime() : deadline;
      const passed = Number.isFinite(at) && at - Date.now() <= DEADLINE_SLACK_MS;
      controller.abort(new Cancelled(passed ? "deadline exceeded" : "cancelled by the caller"));
    };
    call.once("cancelled", onCancelled);
    const handlerCall = new Call(
      agent.name,
      skill.id,
      controller.signal,
      llm,
      metadataOf(call.metadata),
      text,
      message?.contextId ?? "",
      message?.sender ?? "",
      emit,
      history.map(conversationMessage),
      message && conversationMessage(message),
    );
    const started = performance.now();
    try {
      const answer = await Promise.race([skill.invoke(data, handlerCall), aborted(controller.signal)]);
      const usage = handlerCall.usage;
      log.debug("invoked", { ...logFields(handlerCall), duration_ms: Math.round((performance.now() - started) * 1000) / 1000 });
      const asked = answer.inputRequired;
      return create(InvokeResponseSchema, {
        message: this.reply(message, skill.id, answer),
        usage: create(TokenUsageSchema, {
          inputTokens: BigInt(usage.inputTokens),
          outputTokens: BigInt(usage.outputTokens),
          totalTokens: BigInt(usage.inputTokens + usage.outputTokens),
        }),
        ...(asked
          ? { inputRequired: create(InputRequiredSchema, asked.answerSchema ? { answerSchema: asked.answerSchema as JsonObject } : {}) }
          : {}),
        direct: answer.direct ?? false,
      });
    } catch (error) {
      throw Object.assign(controller.signal.aborted ? (controller.signal.reason as Error) : asError(error), { call: handlerCall });
    } finally {
      call.removeListener("cancelled", onCancelled);
      const used = handlerCall.usage;
      this.options.metrics?.tokens(llm.name, used.inputTokens, used.outputTokens);
    }
  }

  private reply(request: AgentMessage | undefined, skill: string, answer: SkillAnswer): AgentMessage {
    const { agent, llm } = this.options;
    const { text, data, metadata: extra, files } = answer;
    const message = create(AgentMessageSchema, {
      messageId: randomBytes(16).toString("hex"),
      contextId: request?.contextId ?? "",
      correlationId: request?.messageId ?? "",
      sender: agent.name,
      receiver: request?.sender ?? "",
      role: Role.AGENT,
      type: MessageType.RESPONSE,
      metadata: { agent: agent.name, skill, llm_provider: llm.name, llm_model: llm.model, ...(extra as JsonObject) },
      createTime: timestampNow(),
    });
    if (text) {
      message.parts.push(create(PartSchema, { content: { case: "text", value: text }, mediaType: "text/markdown" }));
    }
    if (data !== undefined) {
      message.parts.push(create(PartSchema, { content: { case: "data", value: data as JsonObject }, mediaType: "application/json" }));
    }
    for (const file of files) {
      const content = "raw" in file ? { case: "raw" as const, value: file.raw } : { case: "url" as const, value: file.url };
      message.parts.push(create(PartSchema, { content, mediaType: file.mediaType ?? "", filename: file.filename ?? "" }));
    }
    return message;
  }

  card(): AgentCard {
    const { agent, llm } = this.options;
    return create(AgentCardSchema, {
      name: agent.name,
      description: agent.description,
      version: agent.version,
      llmProvider: llm.name,
      streaming: agent.skills.some((s) => s.streams),
      skills: agent.skills.map((s) =>
        create(SkillSchema, {
          id: s.id,
          name: s.name,
          description: s.description,
          tags: s.tags,
          streaming: s.streams,
          asksForInput: s.asksForInput,
          directReplies: s.directReplies,
          inputSchema: s.inputSchema as JsonObject,
          ...(s.outputSchema ? { outputSchema: s.outputSchema as JsonObject } : {}),
          inputExamples: s.examples as JsonObject[],
        }),
      ),
    });
  }

  /** Logs how a call ended, with the messages every runtime uses, and returns its status. */
  private fail(error: unknown, method: string): Partial<grpc.ServiceError> {
    const { log } = this.options;
    const call = (error as { call?: Call } | undefined)?.call;
    const fields = call ? logFields(call) : {};
    if (error instanceof Cancelled) {
      log.info("rpc cancelled", { method, cause: error.why, ...fields });
      const code = error.why === "deadline exceeded" ? Status.DEADLINE_EXCEEDED : Status.CANCELLED;
      return toServiceError(new AgentError(code, error.why === "deadline exceeded" ? "DEADLINE_EXCEEDED" : "CANCELLED", error.why));
    }
    const status = statusOf(error);
    if (status !== error) {
      log.error("rpc failed unexpectedly", { method, error: error instanceof Error ? (error.stack ?? error.message) : String(error), ...fields });
    } else {
      const level = status.code === Status.INVALID_ARGUMENT ? "warning" : "error";
      log[level]("rpc failed", { method, code: Status[status.code], reason: status.reason, error: status.message, ...fields });
    }
    return toServiceError(status);
  }
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
    }
    signal.addEventListener("abort", () => {
      reject(signal.reason as Error);
    }, { once: true });
  });
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function logFields(call: Call): Record<string, string> {
  const fields: Record<string, string> = { skill: call.skill };
  const trace = call.trace;
  if (trace) {
    fields.trace_id = trace.traceId;
    fields.span_id = trace.parentId;
  }
  if (call.idempotencyKey) {
    fields.idempotency_key = call.idempotencyKey;
  }
  return fields;
}

function metadataOf(metadata: grpc.Metadata): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (typeof value === "string") {
      flat[key] = value;
    }
  }
  return flat;
}
