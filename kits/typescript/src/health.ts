// grpc.health.v1 (Check, Watch, List), answered as grpc-health-check answered it, with the
// messages read and written on the wire directly. grpc-health-check parsed health.proto at start
// through @grpc/proto-loader and protobufjs, a second protobuf runtime that an idle agent held in
// memory for three one-field messages (BENCHMARKS.md, p6). A request that does not decode is
// answered as every agentmesh runtime answers it (INVALID_ARGUMENT, MALFORMED_REQUEST).
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type * as grpc from "@grpc/grpc-js";
import { status as Status } from "@grpc/grpc-js";

import { Malformed, type MalformedRequests } from "./decode.js";
import { toServiceError } from "./errors.js";

const SERVICE = "grpc.health.v1.Health";
// List answers at most this many services, as grpc-health-check and grpc-go do.
const LIST_LIMIT = 100;

export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";
const NUMBERS: Record<ServingStatus, number> = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 };

type Watcher = (status: ServingStatus) => void;

// A request as decoded: an object, since grpc-js takes a falsy request for none at all.
interface Request {
  service: string;
}

/** Each service's serving status, and the streams watching it. */
export class Health {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<Watcher>>();

  constructor(initial: Record<string, ServingStatus> = {}) {
    for (const [service, status] of Object.entries(initial)) {
      this.statuses.set(service, status);
    }
  }

  /** Sets `service`'s status and tells its watchers. */
  setStatus(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    for (const watcher of this.watchers.get(service) ?? []) {
      watcher(status);
    }
  }

  private watch(service: string, watcher: Watcher): () => void {
    let set = this.watchers.get(service);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(service, set);
    }
    set.add(watcher);
    return () => {
      set.delete(watcher);
      if (set.size === 0) {
        this.watchers.delete(service);
      }
    };
  }

  /** Serves grpc.health.v1.Health on `server`. */
  addTo(server: grpc.Server, malformed: MalformedRequests): void {
    const method = (name: string, responseStream: boolean, decode: (bytes: Buffer) => Request | Malformed): grpc.MethodDefinition<Request | Malformed, Uint8Array> => ({
      path: `/${SERVICE}/${name}`,
      requestStream: false,
      responseStream,
      requestSerialize: (value) => Buffer.from(value instanceof Malformed ? new Uint8Array() : serviceRequest(value.service)),
      requestDeserialize: decode,
      responseSerialize: (value) => Buffer.from(value),
      responseDeserialize: (bytes) => bytes,
    });
    const definition = {
      Check: method("Check", false, decodeServiceRequest),
      Watch: method("Watch", true, decodeServiceRequest),
      List: method("List", false, decodeListRequest),
    };
    const refusal = (name: keyof typeof definition, request: Malformed): Partial<grpc.ServiceError> =>
      toServiceError(malformed.refusal(definition[name].path, `${SERVICE}${name === "List" ? "List" : "Check"}Request`, request));
    server.addService(definition, {
      Check: (call: grpc.ServerUnaryCall<Request | Malformed, Uint8Array>, callback: grpc.sendUnaryData<Uint8Array>) => {
        const request = call.request;
        if (request instanceof Malformed) {
          callback(refusal("Check", request));
          return;
        }
        const { service } = request;
        const status = this.statuses.get(service);
        if (status === undefined) {
          callback({ code: Status.NOT_FOUND, details: `Health status unknown for service ${service}` });
          return;
        }
        callback(null, statusResponse(status));
      },
      Watch: (call: grpc.ServerWritableStream<Request | Malformed, Uint8Array>) => {
        const request = call.request;
        if (request instanceof Malformed) {
          call.emit("error", refusal("Watch", request));
          return;
        }
        const { service } = request;
        const unwatch = this.watch(service, (status) => {
          call.write(statusResponse(status));
        });
        call.on("cancelled", unwatch);
        call.write(statusResponse(this.statuses.get(service) ?? "SERVICE_UNKNOWN"));
      },
      List: (call: grpc.ServerUnaryCall<Request | Malformed, Uint8Array>, callback: grpc.sendUnaryData<Uint8Array>) => {
        if (call.request instanceof Malformed) {
          callback(refusal("List", call.request));
          return;
        }
        if (this.statuses.size > LIST_LIMIT) {
          callback({ code: Status.RESOURCE_EXHAUSTED, details: "Too many services to list." });
          return;
        }
        const list = new BinaryWriter();
        for (const [service, status] of this.statuses) {
          list.uint32(10).bytes(new BinaryWriter().uint32(10).string(service).uint32(18).bytes(statusResponse(status)).finish());
        }
        callback(null, list.finish());
      },
    });
  }
}

/** HealthCheckResponse: `ServingStatus status = 1`, left out when UNKNOWN (proto3's zero). */
function statusResponse(status: ServingStatus): Uint8Array {
  const number = NUMBERS[status];
  return number === 0 ? new Uint8Array() : new BinaryWriter().uint32(8).int32(number).finish();
}

function serviceRequest(service: string): Uint8Array {
  return new BinaryWriter().uint32(10).string(service).finish();
}

/** HealthCheckRequest's `string service = 1`, read as protobuf-es and upb read it: valid UTF-8,
 * every other field well formed and skipped, a field 1 of another wire type unknown. */
function decodeServiceRequest(bytes: Buffer): Request | Malformed {
  try {
    let service = "";
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field === 1 && wireType === WireType.LengthDelimited) {
        service = reader.string(true); // strict: invalid UTF-8 throws, as upb and protobuf-go refuse it
      } else {
        reader.skip(wireType, field);
      }
    }
    return { service };
  } catch {
    return new Malformed(bytes.length);
  }
}

/** HealthListRequest has no fields: any well-formed bytes. */
function decodeListRequest(bytes: Buffer): Request | Malformed {
  try {
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      reader.skip(wireType, field);
    }
    return { service: "" };
  } catch {
    return new Malformed(bytes.length);
  }
}
