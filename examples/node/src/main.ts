// A Node client of the agentmesh gateway: start a workflow, follow its events, drop the stream,
// resume with after_sequence, and check that every event arrived once, in order, without a gap.
//
//   node examples/node/dist/main.js --gateway 127.0.0.1:50051 --workflow trend-analysis --input topic=robots
import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { OrchestratorService } from "@agentmesh/kit/gen/agentmesh/v1/orchestrator_service_pb.js";
import { RunState } from "@agentmesh/kit/gen/agentmesh/v1/run_pb.js";
import * as grpc from "@grpc/grpc-js";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    gateway: { type: "string", default: "127.0.0.1:50051" },
    workflow: { type: "string", default: "trend-analysis" },
    input: { type: "string", multiple: true, default: [] },
    "drop-after": { type: "string", default: "3" },
  },
});

// A grpc-js client speaking protobuf-es messages: each method's path and schemas come from the
// generated service descriptor.
const client = new grpc.Client(values.gateway, grpc.credentials.createInsecure());
const methods = OrchestratorService.method;
const path = (name: string): string => `/${OrchestratorService.typeName}/${name}`;
const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 120_000 });

function unary<I extends DescMessage, O extends DescMessage>(method: { name: string; input: I; output: O }, request: MessageShape<I>): Promise<MessageShape<O>> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path(method.name),
      (message: MessageShape<I>) => Buffer.from(toBinary(method.input, message)),
      (bytes: Buffer) => fromBinary(method.output, bytes),
      request,
      deadline(),
      (error, response) => {
        if (error || response === undefined) {
          reject(error ?? new Error("no response"));
        } else {
          resolve(response);
        }
      },
    );
  });
}

// Struct fields take plain objects: protobuf-es maps google.protobuf.Struct to JSON.
const inputs: Record<string, string> = {};
for (const pair of values.input) {
  const [key = "", value = ""] = pair.split(/=(.*)/s);
  inputs[key] = value;
}
const started = await unary(methods.startRun, create(methods.startRun.input, { source: { case: "workflowName", value: values.workflow }, inputs }));
const runId = started.run?.runId ?? "";
console.log("run", runId);

const sequences: bigint[] = [];
let last = 0n;

/** Reads events after `last`; resolves true once the run's final event has arrived. */
function follow(limit: number): Promise<boolean> {
  const request = create(methods.watchRun.input, { runId, afterSequence: last });
  const stream = client.makeServerStreamRequest(
    path(methods.watchRun.name),
    (message: typeof request) => Buffer.from(toBinary(methods.watchRun.input, message)),
    (bytes: Buffer) => fromBinary(methods.watchRun.output, bytes),
    request,
    new grpc.Metadata(),
    deadline(),
  );
  return new Promise((resolve, reject) => {
    let read = 0;
    stream.on("data", (response: MessageShape<typeof methods.watchRun.output>) => {
      const event = response.event;
      if (event === undefined || (limit >= 0 && read >= limit)) {
        return;
      }
      read++;
      sequences.push(event.sequence);
      last = event.sequence;
      console.log(String(event.sequence).padStart(4), event.event.case);
      if (limit >= 0 && read === limit) {
        stream.cancel(); // dropping the stream, as a client that goes away does
        resolve(false);
      }
    });
    stream.on("end", () => {
      resolve(true);
    });
    stream.on("error", (error: grpc.ServiceError) => {
      if (error.code === grpc.status.CANCELLED) {
        resolve(false);
      } else {
        reject(error);
      }
    });
  });
}

if (!(await follow(Number(values["drop-after"])))) {
  console.log(`dropped the stream after event ${last}; resuming`);
  await follow(-1);
}
const gap = sequences.findIndex((sequence, i) => sequence !== BigInt(i + 1));
if (gap >= 0) {
  console.log(`gap or repeat: event ${gap + 1} has sequence ${sequences[gap]}`);
  process.exit(1);
}
const run = await unary(methods.getRun, create(methods.getRun.input, { runId }));
const state = run.run?.state ?? RunState.UNSPECIFIED;
console.log(`${sequences.length} events, gap-free; run ${RunState[state]}`);
client.close();
process.exit(state === RunState.SUCCEEDED ? 0 : 1);
