// Traces, configured as in every agentmesh runtime by the standard OTEL_* variables only:
// OTEL_TRACES_EXPORTER (otlp, console, none; a list is allowed), OTEL_EXPORTER_OTLP_PROTOCOL (grpc
// or http/protobuf, the spec's default), the endpoint and headers the exporters read themselves, and
// OTEL_SERVICE_NAME over the agent's own name; OTEL_TRACES_SAMPLER and OTEL_BSP_* are read here
// (this JS SDK no longer reads them). An exporter this kit does not know stops the agent at
// start-up. The SDK is loaded only when an exporter is asked for.
//
// Each AgentService call is a server span, a child of the caller's traceparent (the gateway's
// step attempt), so a run is one trace across languages. grpc-js has no server interceptor that
// the OpenTelemetry instrumentation could use under ESM, so the kit makes the span itself.
import { status as Status } from "@grpc/grpc-js";

import type { Logger } from "./log.js";

export interface CallSpan {
  end(code: number): void;
}

export interface Tracing {
  /** A server span for `method`, a child of `traceparent` if the caller sent one. */
  start(method: string, traceparent: string | undefined): CallSpan;
  /** Exports what is still batched. */
  shutdown(): Promise<void>;
}

const EXPORTERS = new Set(["otlp", "console", "none"]);

export async function tracingFromEnv(service: string, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<Tracing | undefined> {
  const value = env.OTEL_TRACES_EXPORTER ?? "none";
  const names = value
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== "");
  const unknown = names.find((name) => !EXPORTERS.has(name));
  if (unknown !== undefined) {
    throw new Error(`OTEL_TRACES_EXPORTER=${JSON.stringify(value)}: unknown exporter ${JSON.stringify(unknown)} (agentmesh exports otlp, console or none)`);
  }
  const wanted = names.filter((name) => name !== "none");
  if (wanted.length === 0) {
    return undefined;
  }
  const [api, core, resources, sdk] = await Promise.all([
    import("@opentelemetry/api"),
    import("@opentelemetry/core"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/sdk-trace"),
  ]);
  const exporters = await Promise.all(
    wanted.map(async (name) => {
      if (name === "console") {
        return new sdk.ConsoleSpanExporter();
      }
      const variable = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" : "OTEL_EXPORTER_OTLP_PROTOCOL";
      const protocol = (env[variable] ?? "http/protobuf").trim().toLowerCase();
      if (protocol === "grpc") {
        return new (await import("@opentelemetry/exporter-trace-otlp-grpc")).OTLPTraceExporter();
      }
      if (protocol === "http/protobuf") {
        return new (await import("@opentelemetry/exporter-trace-otlp-proto")).OTLPTraceExporter();
      }
      throw new Error(`${variable}=${JSON.stringify(env[variable])}: agentmesh speaks OTLP over grpc or http/protobuf`);
    }),
  );
  // The SDK's own complaints (an export that failed) as warnings in the agent's log.
  const warn = (message: string, ...args: unknown[]): void => {
    log.warning("opentelemetry", { error: [message, ...args.map(String)].join(" ") });
  };
  api.diag.setLogger({ error: warn, warn, info: () => undefined, debug: () => undefined, verbose: () => undefined }, api.DiagLogLevel.WARN);
  // The agent's own name first; the environment's (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) over it.
  const resource = resources
    .resourceFromAttributes({ "service.name": service })
    .merge(resources.detectResources({ detectors: [resources.resourceAttributesEnvDetector, resources.serviceNameEnvDetector] }));
  const provider = new sdk.TracerProvider({
    resource,
    sampler: samplerFromEnv(sdk, env),
    spanProcessors: exporters.map((exporter) => new sdk.BatchSpanProcessor({ exporter, ...batchFromEnv(env) })),
  });
  const tracer = provider.getTracer("agentmesh.kit");
  const propagator = new core.W3CTraceContextPropagator();
  return {
    start(method, traceparent) {
      const parent =
        traceparent === undefined ? api.ROOT_CONTEXT : propagator.extract(api.ROOT_CONTEXT, { traceparent }, api.defaultTextMapGetter);
      const [service_, name] = method.split("/");
      const span = tracer.startSpan(
        method,
        { kind: api.SpanKind.SERVER, attributes: { "rpc.system": "grpc", "rpc.service": service_ ?? "", "rpc.method": name ?? "" } },
        parent,
      );
      return {
        end(code) {
          span.setAttribute("rpc.grpc.status_code", code);
          if (code !== (Status.OK as number)) {
            span.setStatus({ code: api.SpanStatusCode.ERROR, message: Status[code] });
          }
          span.end();
        },
      };
    },
    shutdown: () => provider.shutdown(),
  };
}

type TraceSdk = typeof import("@opentelemetry/sdk-trace");
type Sampler = import("@opentelemetry/sdk-trace").Sampler;

/** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, which this SDK (unlike its Node bundle) does not read itself. */
function samplerFromEnv(sdk: TraceSdk, env: NodeJS.ProcessEnv): Sampler {
  const name = (env.OTEL_TRACES_SAMPLER ?? "parentbased_always_on").trim().toLowerCase();
  const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? "1");
  const fraction = Number.isFinite(ratio) && ratio >= 0 && ratio <= 1 ? ratio : 1;
  const roots: Record<string, () => Sampler> = {
    always_on: () => new sdk.AlwaysOnSampler(),
    always_off: () => new sdk.AlwaysOffSampler(),
    traceidratio: () => new sdk.TraceIdRatioBasedSampler(fraction),
  };
  const root = roots[name];
  if (root !== undefined) {
    return root();
  }
  const parented = roots[name.replace(/^parentbased_/, "")];
  if (name.startsWith("parentbased_") && parented !== undefined) {
    return new sdk.ParentBasedSampler({ root: parented() });
  }
  throw new Error(`OTEL_TRACES_SAMPLER=${JSON.stringify(env.OTEL_TRACES_SAMPLER)}: not a sampler agentmesh knows`);
}

/** OTEL_BSP_* (batch span processor), which this SDK no longer reads itself either. */
function batchFromEnv(env: NodeJS.ProcessEnv): Record<string, number> {
  const settings: Record<string, number> = {};
  const names = {
    OTEL_BSP_SCHEDULE_DELAY: "scheduledDelayMillis",
    OTEL_BSP_EXPORT_TIMEOUT: "exportTimeoutMillis",
    OTEL_BSP_MAX_QUEUE_SIZE: "maxQueueSize",
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "maxExportBatchSize",
  };
  for (const [variable, option] of Object.entries(names)) {
    const value = Number(env[variable]);
    if (env[variable] !== undefined && Number.isFinite(value) && value > 0) {
      settings[option] = value;
    }
  }
  return settings;
}
