// The W3C trace context (https://www.w3.org/TR/trace-context/) a caller sends as `traceparent`
// metadata: the gateway sends one per step attempt, whose trace id is the run's.

export interface TraceParent {
  traceId: string;
  parentId: string;
  sampled: boolean;
}

const HEX = /^[0-9a-f]+$/;

function lowerHex(text: string | undefined, length: number): text is string {
  return text !== undefined && text.length === length && HEX.test(text);
}

/** Reads a traceparent value; undefined for anything the specification says to ignore. */
export function parseTraceParent(value: string | undefined): TraceParent | undefined {
  const fields = (value ?? "").split("-");
  const [version, traceId, parentId, flags] = fields;
  if (fields.length < 4 || (version === "00" && fields.length !== 4)) {
    return undefined;
  }
  if (!lowerHex(version, 2) || version === "ff" || !lowerHex(traceId, 32) || !lowerHex(parentId, 16) || !lowerHex(flags, 2)) {
    return undefined;
  }
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) {
    return undefined;
  }
  return { traceId, parentId, sampled: (parseInt(flags, 16) & 1) === 1 };
}
