// Required request fields, as the protos declare them (google.api.field_behavior = REQUIRED):
// checked in one place before any handler runs, with the rules every runtime applies.
import { type DescField, type DescMessage, getOption, isFieldSet, type Message } from "@bufbuild/protobuf";

import { type FieldViolation, AgentError } from "./errors.js";
import { field_behavior, FieldBehavior } from "./gen/google/api/field_behavior_pb.js";
import { status as Status } from "@grpc/grpc-js";

const cache = new Map<string, DescField[]>();

function requiredFields(desc: DescMessage): DescField[] {
  let fields = cache.get(desc.typeName);
  if (fields === undefined) {
    fields = desc.fields.filter((field) => getOption(field, field_behavior).includes(FieldBehavior.REQUIRED));
    cache.set(desc.typeName, fields);
  }
  return fields;
}

/** Throws INVALID_ARGUMENT (MISSING_REQUIRED_FIELD) naming every REQUIRED field `message` lacks. */
export function checkRequired(desc: DescMessage, message: Message): void {
  const violations: FieldViolation[] = requiredFields(desc)
    .filter((field) => !isFieldSet(message, field))
    .map((field) => ({ field: field.name, description: "is required" }));
  if (violations.length > 0) {
    const names = violations.map((v) => v.field).join(", ");
    throw new AgentError(Status.INVALID_ARGUMENT, "MISSING_REQUIRED_FIELD", `missing required field(s): ${names}`, {}, violations);
  }
}
