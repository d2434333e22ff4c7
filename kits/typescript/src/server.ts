// An agent served over gRPC: AgentService, grpc.health.v1 and server reflection (serving the
// documented descriptor set, so grpcurl shows the protos' comments).
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";

import type { Agent } from "./agent.js";
import { AgentService } from "./gen/agentmesh/v1/agent_service_pb.js";
import type { Provider } from "./llm/provider.js";
import type { Metrics } from "./metrics.js";
import type { Tracing } from "./telemetry.js";
import { type Logger, silent } from "./log.js";
import { MalformedRequests } from "./decode.js";
import { Health } from "./health.js";
import { addReflection } from "./reflection.js";
import { agentService, Cancelled } from "./service.js";

/** The largest request or reply an agent accepts, as in every agentmesh runtime. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

// A client's connection lives this long before the agent asks it (GOAWAY) to reconnect: a
// client of dns:///name re-resolves the name then, and so reaches replicas added since (a
// Kubernetes scale-up). AGENTMESH_MAX_CONNECTION_AGE_S sets it, as in every agentmesh runtime;
// calls already running get the grace to finish.
const DEFAULT_MAX_CONNECTION_AGE_MS = 60_000;
const MAX_CONNECTION_AGE_GRACE_MS = 600_000;

function maxConnectionAgeMs(seconds: string | undefined): number {
  const value = Number(seconds);
  return Number.isFinite(value) && value > 0 ? value * 1000 : DEFAULT_MAX_CONNECTION_AGE_MS;
}

// How long answered calls get to reach their callers once a drain has no call left to wait for.
const FLUSH_MS = 1000;

const DESCRIPTORS = new URL("../descriptors.binpb", import.meta.url);

export class AgentServer {
  private readonly server: grpc.Server;
  private readonly health: Health;
  private readonly calls = new Set<AbortController>();
  private drained: (() => void) | undefined;
  private stopping: Promise<void> | undefined;
  private listening = false;

  constructor(
    readonly agent: Agent,
    readonly llm: Provider,
    private readonly log: Logger = silent,
    metrics?: Metrics,
    tracing?: Tracing,
  ) {
    this.server = new grpc.Server({
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_connection_age_ms": maxConnectionAgeMs(process.env.AGENTMESH_MAX_CONNECTION_AGE_S),
      "grpc.max_connection_age_grace_ms": MAX_CONNECTION_AGE_GRACE_MS,
    });
    const malformed = new MalformedRequests(log);
    const { definition, handlers } = agentService({ agent, llm, log, metrics, tracing, malformed, track: (controller) => this.track(controller) });
    this.server.addService(definition, handlers);
    this.health = new Health({ "": "NOT_SERVING", [AgentService.typeName]: "NOT_SERVING" });
    this.health.addTo(this.server, malformed);
    addReflection(this.server, () => readFileSync(DESCRIPTORS), [AgentService.typeName, "grpc.health.v1.Health"], malformed);
  }

  /** Listening and not draining: what a readiness probe asks. */
  get serving(): boolean {
    return this.listening && this.stopping === undefined;
  }

  /**
   * Listens on host:port (0 picks a free port) and turns SERVING; resolves to the bound port.
   * `credentials`: TLS (see `serverCredentials`); plaintext if not given.
   */
  async listen(host: string, port: number, credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    const bound = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host.includes(":") ? `[${host}]` : host}:${port}`, credentials, (error, bound) => {
        if (error) {
          reject(error);
        } else {
          resolve(bound);
        }
      });
    });
    this.health.setStatus("", "SERVING");
    this.health.setStatus(AgentService.typeName, "SERVING");
    this.listening = true;
    return bound;
  }

  /** The calls in flight now. */
  get inFlight(): number {
    return this.calls.size;
  }

  /** Drains: health turns NOT_SERVING so balancers send no more work, calls in flight get `graceMs`
   * to finish, and whatever still runs then is cancelled. Health watchers are not waited for. */
  stop(graceMs: number): Promise<void> {
    this.stopping ??= this.drain(graceMs);
    return this.stopping;
  }

  private async drain(graceMs: number): Promise<void> {
    this.log.info("shutting down", { grace_seconds: graceMs / 1000 });
    this.health.setStatus("", "NOT_SERVING");
    this.health.setStatus(AgentService.typeName, "NOT_SERVING");
    // No new calls from here. Open health watches would hold tryShutdown's callback until the
    // grace ran out: once the calls are answered, it gets a moment to flush them, then the rest
    // is closed.
    const flushed = new Promise<void>((resolve) => {
      this.server.tryShutdown(() => {
        resolve();
      });
    });
    const started = Date.now();
    if (this.calls.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const drained = new Promise<boolean>((resolve) => {
        this.drained = () => {
          resolve(true);
        };
        timer = setTimeout(() => {
          resolve(false);
        }, graceMs);
      });
      const inTime = await drained;
      clearTimeout(timer);
      if (!inTime) {
        this.log.warning("grace period over; cancelling calls", { in_flight: this.calls.size });
        for (const controller of this.calls) {
          controller.abort(new Cancelled("server shutting down"));
        }
        // Let the cancelled handlers answer their callers before the transport closes.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    const flushMs = Math.max(0, Math.min(FLUSH_MS, graceMs - (Date.now() - started)));
    await Promise.race([flushed, new Promise((resolve) => setTimeout(resolve, flushMs))]);
    this.server.forceShutdown();
    this.log.info("stopped");
  }

  private track(controller: AbortController): () => void {
    this.calls.add(controller);
    return () => {
      this.calls.delete(controller);
      if (this.calls.size === 0) {
        this.drained?.();
      }
    };
  }
}
