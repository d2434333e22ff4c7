// The gateway's HTTP/JSON shapes: the ProtoJSON of protos/agentmesh/v1 (lowerCamel names, default
// values left out, int64 as strings, Timestamps as RFC 3339, Durations as "1.5s", enums by name,
// a Struct as plain JSON). Only what the console reads is typed.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = Record<string, Json>;

export type RunStateName =
  | "RUN_STATE_UNSPECIFIED"
  | "RUN_STATE_PENDING"
  | "RUN_STATE_RUNNING"
  | "RUN_STATE_SUCCEEDED"
  | "RUN_STATE_FAILED"
  | "RUN_STATE_CANCELLED"
  | "RUN_STATE_WAITING_FOR_INPUT"
  | "RUN_STATE_SLEEPING";

export type StepStateName =
  | "STEP_STATE_UNSPECIFIED"
  | "STEP_STATE_PENDING"
  | "STEP_STATE_RUNNING"
  | "STEP_STATE_SUCCEEDED"
  | "STEP_STATE_FAILED"
  | "STEP_STATE_SKIPPED"
  | "STEP_STATE_CANCELLED"
  | "STEP_STATE_WAITING_FOR_INPUT"
  | "STEP_STATE_SLEEPING"
  | "STEP_STATE_QUEUED";

export interface RetryPolicy {
  maxAttempts?: number;
  initialDelay?: string;
  backoffMultiplier?: number;
  maxDelay?: string;
  jitter?: number;
  nonRetryableCodes?: string[];
}

export interface AskStep {
  question?: string;
  schema?: JsonObject;
  approval?: boolean;
  role?: string;
  principals?: string[];
  timeout?: string;
  defaultAnswer?: Json;
}

export interface Step {
  id: string;
  name?: string;
  description?: string;
  agent?: string;
  skill?: string;
  input?: JsonObject;
  dependencies?: string[];
  retry?: RetryPolicy;
  timeout?: string;
  when?: string;
  forEach?: string;
  continueOnFailure?: boolean;
  ask?: AskStep;
  sleep?: string;
  until?: string;
  workflow?: string;
}

export interface WorkflowInput {
  name: string;
  description?: string;
  required?: boolean;
  defaultValue?: Json;
}

export interface Workflow {
  name?: string;
  description?: string;
  version?: string;
  inputs?: WorkflowInput[];
  steps?: Step[];
  outputs?: JsonObject;
  timeout?: string;
  /** int64 tokens as a string; cost in the unit of the gateway's prices. */
  budget?: { tokens?: string; cost?: number };
}

/** A registered version of a workflow (ListWorkflows' and GetWorkflow's `versions`). */
export interface WorkflowVersion {
  name: string;
  version?: string;
  digest?: string;
  createTime?: string;
  runs?: string;
  runsUnfinished?: string;
}

export interface ModelUsage {
  model?: string;
  inputTokens?: string;
  outputTokens?: string;
  cost?: number;
}

export interface Usage {
  inputTokens?: string;
  outputTokens?: string;
  cost?: number;
  models?: ModelUsage[];
}

export interface RunError {
  code?: string;
  message?: string;
  reason?: string;
  stepId?: string;
}

export interface Part {
  text?: string;
  data?: JsonObject;
  url?: string;
  raw?: string;
  mediaType?: string;
}

export interface AgentMessage {
  messageId?: string;
  contextId?: string;
  role?: string;
  parts?: Part[];
}

export interface InputRequest {
  stepId: string;
  item?: number;
  attempt?: number;
  turn?: number;
  question?: AgentMessage;
  answerSchema?: JsonObject;
  /** Who may answer (an ask step's role and principals); empty: operators. */
  role?: string;
  principals?: string[];
  deadline?: string;
}

export interface StepRun {
  stepId: string;
  state?: StepStateName;
  attempts?: number;
  output?: Json;
  text?: string;
  error?: RunError;
  itemsTotal?: number;
  itemsDone?: number;
  startTime?: string;
  endTime?: string;
  pendingInput?: InputRequest[];
  childRunIds?: string[];
  wakeTime?: string;
  usage?: Usage;
}

export interface Run {
  runId: string;
  workflow?: Workflow;
  state?: RunStateName;
  inputs?: JsonObject;
  outputs?: JsonObject;
  error?: RunError;
  steps?: StepRun[];
  requestId?: string;
  createTime?: string;
  startTime?: string;
  endTime?: string;
  lastSequence?: string;
  principal?: string;
  traceparent?: string;
  usage?: Usage;
  parent?: { runId: string; stepId?: string; item?: number };
  depth?: number;
  wakeTime?: string;
  schedule?: string;
}

export interface RunEvent {
  runId?: string;
  sequence: string;
  eventTime?: string;
  runStarted?: { run?: Run };
  stepStarted?: { stepId: string; attempt?: number; item?: number; itemsTotal?: number; address?: string };
  stepOutputChunk?: { stepId: string; item?: number; text?: string };
  stepRetrying?: { stepId: string; item?: number; attempt?: number; delay?: string; error?: RunError };
  stepCompleted?: {
    stepId: string;
    item?: number;
    attempt?: number;
    output?: Json;
    text?: string;
    duration?: string;
    inputTokens?: string;
    outputTokens?: string;
    models?: ModelUsage[];
  };
  stepFailed?: { stepId: string; item?: number; attempt?: number; error?: RunError; continued?: boolean };
  stepSkipped?: { stepId: string; reason?: string };
  runCompleted?: { outputs?: JsonObject; duration?: string };
  runFailed?: { error?: RunError };
  runCancelled?: { reason?: string };
  runResumed?: { redispatchedStepIds?: string[] };
  stepInputRequired?: { request?: InputRequest };
  stepInputProvided?: {
    stepId: string;
    item?: number;
    attempt?: number;
    turn?: number;
    answer?: AgentMessage;
    principal?: string;
    timedOut?: boolean;
  };
  runWaiting?: { stepIds?: string[]; wakeTime?: string };
  stepRemoteTask?: { stepId: string; item?: number; attempt?: number; taskId?: string; turn?: number };
  stepSleeping?: { stepId: string; wakeTime?: string };
  stepChildStarted?: { stepId: string; item?: number; childRunId?: string; workflowName?: string; workflowVersion?: string };
  stepQueued?: { stepId: string; item?: number; attempt?: number; agent?: string; limit?: string };
}

export const EVENT_KINDS = [
  "runStarted",
  "stepStarted",
  "stepOutputChunk",
  "stepRetrying",
  "stepCompleted",
  "stepFailed",
  "stepSkipped",
  "runCompleted",
  "runFailed",
  "runCancelled",
  "runResumed",
  "stepInputRequired",
  "stepInputProvided",
  "runWaiting",
  "stepRemoteTask",
  "stepSleeping",
  "stepChildStarted",
  "stepQueued",
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface Skill {
  id: string;
  name?: string;
  description?: string;
  inputSchema?: JsonObject;
  outputSchema?: JsonObject;
  tags?: string[];
  streaming?: boolean;
  inputExamples?: JsonObject[];
  asksForInput?: boolean;
}

export interface AgentCard {
  name?: string;
  description?: string;
  version?: string;
  skills?: Skill[];
  streaming?: boolean;
  llmProvider?: string;
}

export type ReplicaHealth =
  | "REPLICA_HEALTH_UNSPECIFIED"
  | "REPLICA_HEALTH_SERVING"
  | "REPLICA_HEALTH_NOT_SERVING"
  | "REPLICA_HEALTH_UNKNOWN";

export interface AgentStatus {
  name: string;
  replicas?: { address: string; health?: ReplicaHealth }[];
  card?: AgentCard;
}

export interface AgentMetrics {
  agent: string;
  executions?: string;
  successes?: string;
  failures?: string;
  successRate?: number;
  averageMs?: number;
  p50Ms?: number;
  p95Ms?: number;
  p99Ms?: number;
  tokensUsed?: string;
}

export interface Metrics {
  workflowsExecuted?: string;
  workflowsSucceeded?: string;
  workflowsFailed?: string;
  workflowsCancelled?: string;
  workflowsRunning?: string;
  successRate?: number;
  agents?: AgentMetrics[];
  time?: string;
}

export type CallerRole = "CALLER_ROLE_UNSPECIFIED" | "CALLER_ROLE_VIEWER" | "CALLER_ROLE_OPERATOR" | "CALLER_ROLE_ADMIN";

export interface Caller {
  principal?: string;
  role?: CallerRole;
  authenticated?: boolean;
  tenantIsolation?: boolean;
}

export type OverlapPolicy = "OVERLAP_POLICY_UNSPECIFIED" | "OVERLAP_POLICY_SKIP" | "OVERLAP_POLICY_ALLOW" | "OVERLAP_POLICY_CANCEL_PREVIOUS";

export type CatchUpPolicy = "CATCH_UP_POLICY_UNSPECIFIED" | "CATCH_UP_POLICY_NONE" | "CATCH_UP_POLICY_ONE" | "CATCH_UP_POLICY_ALL";

/** A schedule: runs of a workflow at the times a cron expression gives, in a time zone. */
export interface Schedule {
  name: string;
  workflowName?: string;
  inputs?: JsonObject;
  cron?: string;
  timeZone?: string;
  overlap?: OverlapPolicy;
  catchUp?: CatchUpPolicy;
  catchUpWindow?: string;
  paused?: boolean;
  pauseReason?: string;
  nextFireTimes?: string[];
  lastFireTime?: string;
  lastRunId?: string;
  createTime?: string;
  principal?: string;
}
