// Requests a server cannot decode are the caller's fault: INVALID_ARGUMENT with reason
// MALFORMED_REQUEST and the method in ErrorInfo, never INTERNAL, with one warning per method per
// ten seconds. The same requests are refused in every agentmesh runtime: corrupt bytes, invalid
// UTF-8 in a string, and messages nested more than MAX_DECODE_DEPTH deep, counted as protobuf's
// reference decoder (upb, under the Python runtime) counts them.
import { type DescField, type DescMessage, fromBinary, type Message, ScalarType } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { status as Status } from "@grpc/grpc-js";

import { AgentError } from "./errors.js";
import type { Logger } from "./log.js";

/** How deeply a request's messages may nest: the request is level 1, every message inside it one
 * more, a map entry included. */
export const MAX_DECODE_DEPTH = 100;
const LOG_INTERVAL_MS = 10_000;

/** What a request that did not decode becomes: the handler answers it with `refusal`. */
export class Malformed {
  constructor(readonly bytes: number) {}
}

/** The request, or Malformed, decoded as upb decodes it. Two things upb does that protobuf-es does
 * not are done by `scan` first: it counts map entries as levels of nesting, and it takes a known
 * field that arrives with another wire type as an unknown field (protobuf-es reads it as its
 * declared type instead, accepting some corrupt bytes and refusing some valid ones). Such fields
 * are dropped before protobuf-es decodes; what is left decodes alike everywhere. */
export function decodeRequest(desc: DescMessage, bytes: Uint8Array): Message | Malformed {
  try {
    const shape = shapeOf(desc);
    const mismatched = scan(shape, new BinaryReader(bytes), bytes.length, 1);
    if (mismatched) {
      const writer = new BinaryWriter();
      rewrite(shape, bytes, new BinaryReader(bytes), bytes.length, writer);
      bytes = writer.finish();
    }
    return fromBinary(desc, bytes);
  } catch {
    // corrupt, truncated, invalid UTF-8, or nested too deeply: malformed all the same
    return new Malformed(bytes.length);
  }
}

/** What a message's known fields look like on the wire: expected wire type, and the shape of a
 * message inside (a map entry is a message of its own, key 1 and value 2). */
interface Slot {
  wire: WireType;
  packable: boolean;
  inner?: Shape | undefined;
}
type Shape = Map<number, Slot>;

const shapes = new WeakMap<DescMessage, Shape>();

function shapeOf(desc: DescMessage): Shape {
  let shape = shapes.get(desc);
  if (shape === undefined) {
    shape = new Map();
    shapes.set(desc, shape); // before the fields: a message may contain itself (Struct, Value)
    for (const field of desc.fields) {
      shape.set(field.number, slotOf(field));
    }
  }
  return shape;
}

function slotOf(field: DescField): Slot {
  switch (field.fieldKind) {
    case "message":
      return { wire: WireType.LengthDelimited, packable: false, inner: shapeOf(field.message) };
    case "enum":
      return { wire: WireType.Varint, packable: false };
    case "scalar":
      return { wire: scalarWire(field.scalar), packable: false };
    case "list":
      if (field.listKind === "message") {
        return { wire: WireType.LengthDelimited, packable: false, inner: shapeOf(field.message) };
      }
      return field.listKind === "enum"
        ? { wire: WireType.Varint, packable: true }
        : { wire: scalarWire(field.scalar), packable: field.scalar !== ScalarType.STRING && field.scalar !== ScalarType.BYTES };
    case "map": {
      const entry: Shape = new Map([[1, { wire: scalarWire(field.mapKey), packable: false }]]);
      if (field.mapKind === "message") {
        entry.set(2, { wire: WireType.LengthDelimited, packable: false, inner: shapeOf(field.message) });
      } else {
        entry.set(2, { wire: field.mapKind === "enum" ? WireType.Varint : scalarWire(field.scalar), packable: false });
      }
      return { wire: WireType.LengthDelimited, packable: false, inner: entry };
    }
  }
}

function scalarWire(scalar: ScalarType): WireType {
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

function fits(slot: Slot, wire: WireType): boolean {
  return wire === slot.wire || (slot.packable && wire === WireType.LengthDelimited);
}

/** Reads a message's bytes up to `end` at nesting `level` as upb reads them; throws where upb
 * refuses them, and says whether a known field came with another wire type. */
function scan(shape: Shape, reader: BinaryReader, end: number, level: number): boolean {
  if (level > MAX_DECODE_DEPTH) {
    throw new Error("nested too deeply");
  }
  let mismatched = false;
  while (reader.pos < end) {
    const [number, wire] = reader.tag();
    const slot = shape.get(number);
    if (slot?.inner !== undefined && wire === WireType.LengthDelimited) {
      const inner = reader.uint32() + reader.pos;
      if (inner > end) {
        throw new Error("truncated");
      }
      mismatched = scan(slot.inner, reader, inner, level + 1) || mismatched;
      continue;
    }
    mismatched ||= slot !== undefined && !fits(slot, wire);
    skip(reader, wire, number, level);
  }
  if (reader.pos !== end) {
    throw new Error("truncated");
  }
  return mismatched;
}

/** The message's bytes without its known fields that came with another wire type. */
function rewrite(shape: Shape, bytes: Uint8Array, reader: BinaryReader, end: number, writer: BinaryWriter): void {
  while (reader.pos < end) {
    const start = reader.pos;
    const [number, wire] = reader.tag();
    const slot = shape.get(number);
    if (slot?.inner !== undefined && wire === WireType.LengthDelimited) {
      const inner = reader.uint32() + reader.pos;
      writer.tag(number, wire).fork();
      rewrite(slot.inner, bytes, reader, inner, writer);
      writer.join();
      continue;
    }
    skip(reader, wire, number, 0);
    if (slot === undefined || fits(slot, wire)) {
      writer.raw(bytes.subarray(start, reader.pos));
    }
  }
}

/** Skips one field's value; a varint longer than ten bytes is corrupt, as upb says. */
function skip(reader: BinaryReader, wire: WireType, number: number, level: number): void {
  if (wire === WireType.Varint) {
    const varint = reader.skip(wire, number);
    if (varint.length > 10 || (varint.length === 10 && (varint[9] ?? 0) > 1)) {
      throw new Error("varint too long");
    }
    return;
  }
  reader.skip(wire, number, MAX_DECODE_DEPTH - level);
}

/** Answers malformed requests, logging one warning per method per interval and counting the rest. */
export class MalformedRequests {
  private readonly shown = new Map<string, number>();
  private readonly held = new Map<string, number>();

  constructor(private readonly log: Logger) {}

  /** The error to answer `path` (`/package.Service/Method`) with, whose request type is `typeName`. */
  refusal(path: string, typeName: string, request: Malformed): AgentError {
    this.warn(path, request.bytes);
    return new AgentError(
      Status.INVALID_ARGUMENT,
      "MALFORMED_REQUEST",
      `the request is not a valid ${typeName}: its bytes could not be decoded (corrupt, or nested more than ${MAX_DECODE_DEPTH} levels deep)`,
      { method: path },
    );
  }

  private warn(path: string, bytes: number): void {
    const now = Date.now();
    if (now - (this.shown.get(path) ?? -Infinity) < LOG_INTERVAL_MS) {
      this.held.set(path, (this.held.get(path) ?? 0) + 1);
      return;
    }
    const suppressed = this.held.get(path) ?? 0;
    this.shown.set(path, now);
    this.held.set(path, 0);
    this.log.warning("malformed request", { method: path, code: "INVALID_ARGUMENT", reason: "MALFORMED_REQUEST", request_bytes: bytes, suppressed });
  }
}
