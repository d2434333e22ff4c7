// Calls a skill in-process as the server would (the same validation and reply), with the offline
// provider by default: what an agent's own tests use, with no server and no port.
import { create } from "@bufbuild/protobuf";
import type { JsonObject } from "@bufbuild/protobuf";

import type { Agent, FilePart } from "./agent.js";
import { Call } from "./call.js";
import { type ConversationMessage, conversationMessage } from "./conversation.js";
import { AgentMessageSchema, Role } from "./gen/agentmesh/v1/message_pb.js";
import { Offline } from "./llm/offline.js";
import type { Provider, Usage } from "./llm/provider.js";
import type { JsonSchema } from "./schema.js";

export interface InvokeOptions {
  llm?: Provider;
  metadata?: Record<string, string>;
  signal?: AbortSignal;
  /** Collects what the handler streams, as InvokeStream would send it. */
  chunks?: string[];
  /**
   * The conversation so far, when the skill asked for input (`Result.inputRequired`): the first
   * request, then each question and its answer, ending with the question now answered. The
   * input is then the first request's, and `data` is the answer.
   */
  history?: { text?: string; data?: Record<string, unknown> }[];
}

export interface Result {
  text: string;
  data?: Record<string, unknown>;
  metadata: Record<string, unknown>;
  /** The files the reply carries, as the server sends them after its text and data. */
  files: FilePart[];
  usage: Usage;
  /** Set when the skill asked a question (`text`, `data`) instead of answering. */
  inputRequired?: { answerSchema?: JsonSchema };
  /** Set when the reply is a direct message (`Reply.direct`), as the server says on the wire. */
  direct?: boolean;
}

export async function invokeSkill(agent: Agent, skill: string, data: Record<string, unknown>, options: InvokeOptions = {}): Promise<Result> {
  const found = agent.find(skill);
  const chunks = options.chunks;
  const emit = chunks
    ? (text: string): Promise<void> => {
        chunks.push(text);
        return Promise.resolve();
      }
    : undefined;
  const history = (options.history ?? []).map((said, i) => message(said, i % 2 === 0 ? Role.USER : Role.AGENT));
  const first = history[0];
  const input = first ? { ...first.data, ...(first.text && !("text" in first.data) ? { text: first.text } : {}) } : data;
  const call = new Call(
    agent.name,
    found.id,
    options.signal ?? new AbortController().signal,
    options.llm ?? new Offline(agent.composers),
    options.metadata ?? {},
    first?.text ?? "",
    "",
    "",
    emit,
    history,
    message({ data }, Role.USER),
  );
  const answer = await found.invoke(input, call);
  return { ...answer, usage: call.usage };
}

function message(said: { text?: string; data?: Record<string, unknown> }, role: Role): ConversationMessage {
  const parts = [
    ...(said.text ? [{ content: { case: "text" as const, value: said.text } }] : []),
    ...(said.data ? [{ content: { case: "data" as const, value: said.data as JsonObject } }] : []),
  ];
  return conversationMessage(create(AgentMessageSchema, { role, parts }));
}
