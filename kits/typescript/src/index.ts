// Write an agentmesh agent in TypeScript: an Agent with zod-typed skills, which may ask the caller
// for input (`ask`), served with health, reflection, validation, deadlines and drain by `main(agent)`.
export {
  Agent,
  type AgentOptions,
  Ask,
  ask,
  type AskOptions,
  type FilePart,
  type Handler,
  type RegisteredSkill,
  type Reply,
  type SkillAnswer,
  type SkillSpec,
} from "./agent.js";
export { Call, stripFences } from "./call.js";
export { type ConversationMessage } from "./conversation.js";
export { AgentError, cut, DOMAIN, type FieldViolation, invalidInput } from "./errors.js";
export { type Composer, fromEnv, Offline, type Prompt, type Provider, type Usage } from "./llm/index.js";
export { type Logger, newLogger, silent } from "./log.js";
export { main, run } from "./main.js";
export { AgentServer, MAX_MESSAGE_BYTES } from "./server.js";
export { serverCredentials, type TlsFiles } from "./tls.js";
export { parseTraceParent, type TraceParent } from "./trace.js";
export { invokeSkill, type InvokeOptions, type Result } from "./testing.js";
