// Required request fields, as the protos declare them (google.api.field_behavior = REQUIRED):
// checked in one place before any handler runs, with the rules every runtime applies.
import { type DescMessage, getOption, isFieldSet, type Message } from "@bufbuild/protobuf";

import { type FieldViolation, AgentError } from "./errors.js";
import { field_behavior, FieldBehavior } from "./gen/google/api/field_behavior_pb.js";
import { status as Status } from "@grpc/grpc-js";

const cache = new Map<string, string[]>();

function requiredFields(desc: DescMessage): string[] {
  let names = cache.get(desc.typeName);
  if (names === undefined) {
    names = desc.fields.filter((field) => getOption(field, field_behavior).includes(FieldBehavior.REQUIRED)).map((f) => f.localName);
    cache.set(desc.typeName, names);
  }
  return names;
}

/** Throws INVALID_ARGUMENT (MISSING_REQUIRED_FIELD) naming every REQUIRED field `message` lacks. */
export function checkRequired(desc: DescMessage, message: Message): void {
  const violations: FieldViolation[] = [];
  for (const field of desc.fields) {
    if (requiredFields(desc).includes(field.localName) && !isFieldSet(message, field)) {
      violations.push({ field: field.name, description: "is required" });
    }
  }
  if (violations.length > 0) {
    const names = violations.map((v) => v.field).join(", ");
    throw new AgentError(Status.INVALID_ARGUMENT, "MISSING_REQUIRED_FIELD", `missing required field(s): ${names}`, {}, violations);
  }
}
