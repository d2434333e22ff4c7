// A skill that asks for input (A2A's input-required) is invoked again with the answer and the
// conversation so far: what a handler reads of those messages, and how a message's parts become
// text and data.
import type { AgentMessage } from "./gen/agentmesh/v1/message_pb.js";

/** A message of a conversation as a handler reads it: the request, one of the skill's questions,
 * or an answer. */
export interface ConversationMessage {
  /** Its text parts, joined by blank lines. */
  readonly text: string;
  /** Its data parts, merged in order (later keys win). */
  readonly data: Record<string, unknown>;
  /** The message as it came over the wire: ids, role, sender, metadata. */
  readonly proto: AgentMessage;
}

/** A message's text parts joined by blank lines, and its data parts merged in order. */
export function contentOf(message: AgentMessage | undefined): { text: string; data: Record<string, unknown> } {
  const texts: string[] = [];
  const data: Record<string, unknown> = {};
  for (const part of message?.parts ?? []) {
    if (part.content.case === "text") {
      texts.push(part.content.value);
    } else if (part.content.case === "data") {
      Object.assign(data, part.content.value);
    }
  }
  return { text: texts.join("\n\n"), data };
}

export function conversationMessage(message: AgentMessage): ConversationMessage {
  return { ...contentOf(message), proto: message };
}
