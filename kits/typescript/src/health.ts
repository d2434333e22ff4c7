// grpc.health.v1 served by grpc-health-check, except that a request it cannot decode is answered
// as every agentmesh runtime answers it (INVALID_ARGUMENT, MALFORMED_REQUEST), not INTERNAL: its
// proto-loader deserializer throws on such bytes, and does not check UTF-8 at all.
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type * as grpc from "@grpc/grpc-js";
import type { HealthImplementation } from "grpc-health-check";

import { Malformed, type MalformedRequests } from "./decode.js";
import { toServiceError } from "./errors.js";

const REQUEST_TYPE = "grpc.health.v1.HealthCheckRequest";

type Handler = (call: grpc.ServerUnaryCall<unknown, unknown>, callback?: grpc.sendUnaryData<unknown>) => void;

export function addHealth(server: grpc.Server, health: HealthImplementation, malformed: MalformedRequests): void {
  // grpc-health-check hands its definition and handlers to addService only: take them from there.
  let definition: grpc.ServiceDefinition = {};
  let handlers: grpc.UntypedServiceImplementation = {};
  const collector = {
    addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
      definition = service;
      handlers = implementation;
    },
  };
  health.addToServer(collector);
  const guarded: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const guardedHandlers: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    guarded[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => (wellFormed(bytes) ? method.requestDeserialize(bytes) : new Malformed(bytes.length)),
    };
    // grpc-health-check names its handlers as the proto's methods are named in JS (`check`).
    const handle = (handlers[name] ?? handlers[method.originalName ?? name]) as Handler;
    guardedHandlers[name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback?: grpc.sendUnaryData<unknown>): void => {
      if (call.request instanceof Malformed) {
        const refusal = toServiceError(malformed.refusal(method.path, REQUEST_TYPE, call.request));
        if (callback === undefined) {
          call.emit("error", refusal);
        } else {
          callback(refusal);
        }
        return;
      }
      handle(call, callback);
    }) as grpc.UntypedHandleCall;
  }
  server.addService(guarded, guardedHandlers);
}

/** Whether bytes decode as a HealthCheckRequest (`string service = 1`), as protobuf-es would
 * decode it: a string of valid UTF-8, every other field well formed. */
function wellFormed(bytes: Uint8Array): boolean {
  try {
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field === 1 && wireType === WireType.LengthDelimited) {
        reader.string(true); // strict: invalid UTF-8 throws, as upb and protobuf-go refuse it
      } else {
        reader.skip(wireType, field);
      }
    }
    return true;
  } catch {
    return false;
  }
}
