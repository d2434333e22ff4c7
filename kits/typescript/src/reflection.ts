// gRPC server reflection (v1 and v1alpha, one wire format) answered from the descriptor set that
// `make protos` builds with source info, its files served byte for byte as buf wrote them: so
// `grpcurl describe` shows the protos' comments, and every import (Struct, health) resolves.
// Not @grpc/reflection: it re-encodes descriptors through protobufjs, which loses the imports
// grpcurl asks for and misnames map entries (grpcurl then refuses to describe the service).
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { type DescriptorProto, type FileDescriptorProto, FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";

import { Malformed, type MalformedRequests } from "./decode.js";
import { toServiceError } from "./errors.js";

const NOT_FOUND = 5;

class Index {
  readonly files = new Map<string, { bytes: Uint8Array; dependencies: string[] }>();
  readonly symbols = new Map<string, string>();

  constructor(set: Uint8Array) {
    for (const file of fromBinary(FileDescriptorSetSchema, set).file) {
      this.files.set(file.name, { bytes: toBinary(FileDescriptorProtoSchema, file), dependencies: file.dependency });
      this.addSymbols(file);
    }
  }

  private addSymbols(file: FileDescriptorProto): void {
    const prefix = file.package ? `${file.package}.` : "";
    const add = (name: string): void => {
      this.symbols.set(name, file.name);
    };
    const addMessage = (message: DescriptorProto, scope: string): void => {
      const name = scope + message.name;
      add(name);
      message.field.forEach((field) => {
        add(`${name}.${field.name}`);
      });
      message.enumType.forEach((e) => {
        add(`${name}.${e.name}`);
      });
      message.nestedType.forEach((nested) => {
        addMessage(nested, `${name}.`);
      });
    };
    file.messageType.forEach((message) => {
      addMessage(message, prefix);
    });
    file.enumType.forEach((e) => {
      add(prefix + e.name);
    });
    for (const service of file.service) {
      add(prefix + service.name);
      service.method.forEach((method) => {
        add(`${prefix}${service.name}.${method.name}`);
      });
    }
  }

  /** The file and everything it imports, each once, the file first. */
  withDependencies(name: string): Uint8Array[] | undefined {
    if (!this.files.has(name)) {
      return undefined;
    }
    const seen = new Set<string>();
    const order: Uint8Array[] = [];
    const visit = (file: string): void => {
      const entry = this.files.get(file);
      if (entry === undefined || seen.has(file)) {
        return;
      }
      seen.add(file);
      order.push(entry.bytes);
      entry.dependencies.forEach(visit);
    };
    visit(name);
    return order;
  }
}

/** Adds ServerReflection v1 and v1alpha to `server`, listing `services` and describing them from the set `set` reads. */
export function addReflection(server: grpc.Server, set: () => Uint8Array, services: string[], malformed: MalformedRequests): void {
  // Built on the first request: an agent nobody describes does not hold the contract twice.
  let built: Index | undefined;
  const index = (): Index => (built ??= new Index(set()));
  for (const version of ["v1", "v1alpha"]) {
    const name = `grpc.reflection.${version}.ServerReflection`;
    const identity = (bytes: Buffer): Buffer => bytes;
    server.addService(
      {
        ServerReflectionInfo: {
          path: `/${name}/ServerReflectionInfo`,
          requestStream: true,
          responseStream: true,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      },
      {
        ServerReflectionInfo: (stream: grpc.ServerDuplexStream<Buffer, Buffer>) => {
          stream.on("data", (request: Buffer) => {
            let reply: Uint8Array;
            try {
              reply = answer(index(), services, request);
            } catch {
              // Bytes that are no ServerReflectionRequest end the stream as every runtime ends it.
              const path = `/${name}/ServerReflectionInfo`;
              stream.emit("error", toServiceError(malformed.refusal(path, `${name}Request`, new Malformed(request.length))));
              return;
            }
            stream.write(Buffer.from(reply));
          });
          stream.on("end", () => {
            stream.end();
          });
        },
      },
    );
  }
}

function answer(index: Index, services: string[], request: Uint8Array): Uint8Array {
  const reply = new BinaryWriter();
  let host = "";
  let files: Uint8Array[] | undefined;
  let listed = false;
  let missing = "";
  const reader = new BinaryReader(request);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (wireType !== WireType.LengthDelimited) {
      reader.skip(wireType);
      continue;
    }
    switch (field) {
      case 1:
        host = reader.string(true);
        break;
      case 3: {
        const name = reader.string(true);
        files = index.withDependencies(name);
        missing = files ? "" : `file ${name} not found`;
        break;
      }
      case 4: {
        const symbol = reader.string(true).replace(/^\./, "");
        const file = index.symbols.get(symbol);
        files = file === undefined ? undefined : index.withDependencies(file);
        missing = files ? "" : `symbol ${symbol} not found`;
        break;
      }
      case 5:
      case 6:
        reader.bytes();
        missing = "extensions are not served";
        break;
      case 7:
        reader.string(true);
        listed = true;
        break;
      default:
        reader.bytes();
    }
  }
  reply.uint32(10).string(host);
  reply.uint32(18).bytes(request);
  if (listed) {
    const list = new BinaryWriter();
    for (const service of services) {
      list.uint32(10).bytes(new BinaryWriter().uint32(10).string(service).finish());
    }
    reply.uint32(50).bytes(list.finish());
  } else if (files) {
    const found = new BinaryWriter();
    for (const file of files) {
      found.uint32(10).bytes(file);
    }
    reply.uint32(34).bytes(found.finish());
  } else {
    const error = new BinaryWriter().uint32(8).int32(NOT_FOUND).uint32(18).string(missing || "unsupported request");
    reply.uint32(58).bytes(error.finish());
  }
  return reply.finish();
}
