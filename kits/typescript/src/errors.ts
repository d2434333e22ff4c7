// One error type for everything an agent answers with a status, and the one path that turns any
// thrown value into a gRPC status with google.rpc.ErrorInfo (domain "agentmesh") and, for bad
// input, google.rpc.BadRequest, as every agentmesh runtime answers.
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Metadata, status as Status, type ServiceError } from "@grpc/grpc-js";

export const DOMAIN = "agentmesh";

/** One field's problem: a dotted path (`trends.0.name`) and what is wrong with it. */
export interface FieldViolation {
  field: string;
  description: string;
}

// Bounds keep an error's size independent of the request that caused it.
const MAX_MESSAGE_BYTES = 1024;
const MAX_FIELD_BYTES = 256;
const MAX_VIOLATIONS = 20;
const MAX_METADATA_ENTRIES = 16;

/** An error that travels as a gRPC status: its code, ErrorInfo reason and field violations. */
export class AgentError extends Error {
  constructor(
    readonly code: Status,
    readonly reason: string,
    message: string,
    readonly metadata: Record<string, string> = {},
    readonly violations: FieldViolation[] = [],
  ) {
    super(message);
    this.name = "AgentError";
  }
}

/** Input that does not fit a skill's schema: INVALID_ARGUMENT, reason INVALID_INPUT. */
export function invalidInput(message: string, violations: FieldViolation[] = []): AgentError {
  return new AgentError(Status.INVALID_ARGUMENT, "INVALID_INPUT", message, {}, violations);
}

/** Shortens text to at most `limit` bytes of UTF-8, on a character boundary, marking the cut. */
export function cut(text: string, limit: number): string {
  if (Buffer.byteLength(text) <= limit) {
    return text;
  }
  let kept = "";
  let size = 0;
  for (const char of text) {
    const bytes = Buffer.byteLength(char);
    if (size + bytes > limit - 3) {
      break;
    }
    kept += char;
    size += bytes;
  }
  return kept + "…";
}

/** The status a thrown value answers with. Unexpected errors become INTERNAL without their text. */
export function statusOf(error: unknown): AgentError {
  if (error instanceof AgentError) {
    return error;
  }
  return new AgentError(Status.INTERNAL, "INTERNAL", "internal error; see the agent's log");
}

/** The ServiceError grpc-js sends: code, message and google.rpc.Status in grpc-status-details-bin. */
export function toServiceError(error: AgentError): Partial<ServiceError> {
  const message = cut(error.message, MAX_MESSAGE_BYTES);
  const metadata = new Metadata();
  metadata.set("grpc-status-details-bin", Buffer.from(encodeStatus(error, message)));
  return { code: error.code, details: message, metadata };
}

// google.rpc.Status, ErrorInfo and BadRequest written field by field: the three messages are small
// and stable, and generating googleapis for them would add a second copy of their descriptors.
function encodeStatus(error: AgentError, message: string): Uint8Array {
  const info = new BinaryWriter().uint32(10).string(cut(error.reason, MAX_FIELD_BYTES)).uint32(18).string(DOMAIN);
  for (const [key, value] of Object.entries(error.metadata).slice(0, MAX_METADATA_ENTRIES)) {
    const entry = new BinaryWriter()
      .uint32(10)
      .string(cut(key, MAX_FIELD_BYTES))
      .uint32(18)
      .string(cut(value, MAX_FIELD_BYTES))
      .finish();
    info.uint32(26).bytes(entry);
  }
  const details = [any("type.googleapis.com/google.rpc.ErrorInfo", info.finish())];
  if (error.violations.length > 0) {
    const badRequest = new BinaryWriter();
    for (const violation of error.violations.slice(0, MAX_VIOLATIONS)) {
      const entry = new BinaryWriter()
        .uint32(10)
        .string(cut(violation.field, MAX_FIELD_BYTES))
        .uint32(18)
        .string(cut(violation.description, MAX_FIELD_BYTES))
        .finish();
      badRequest.uint32(10).bytes(entry);
    }
    details.push(any("type.googleapis.com/google.rpc.BadRequest", badRequest.finish()));
  }
  const status = new BinaryWriter().uint32(8).int32(error.code).uint32(18).string(message);
  for (const detail of details) {
    status.uint32(26).bytes(detail);
  }
  return status.finish();
}

function any(typeUrl: string, value: Uint8Array): Uint8Array {
  return new BinaryWriter().uint32(10).string(typeUrl).uint32(18).bytes(value).finish();
}
