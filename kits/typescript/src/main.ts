// Runs an agent as a standalone process with the flags, logs and signals of every agentmesh agent:
// --host (default 127.0.0.1), --port (0 picks a free one), --grace seconds for in-flight calls on
// SIGTERM or SIGINT, --log-format json|text, --log-level, and TLS from --tls-cert, --tls-key and
// --tls-client-ca (or AGENTMESH_TLS_CERT, AGENTMESH_TLS_KEY, AGENTMESH_TLS_CLIENT_CA).
import { parseArgs } from "node:util";

import type { Agent } from "./agent.js";
import { fromEnv } from "./llm/env.js";
import { isLevel, newLogger } from "./log.js";
import { serveMetrics } from "./metrics.js";
import { type Tracing, tracingFromEnv } from "./telemetry.js";
import { AgentServer } from "./server.js";
import { isLoopback, serverCredentials, tlsMode, tlsProblem } from "./tls.js";

const USAGE =
  "usage: AGENT [--host HOST] [--port PORT] [--grace SECONDS] [--log-format json|text] [--log-level LEVEL] [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]] [--metrics-port PORT]";

/** Serves `agent` until SIGTERM or SIGINT, then drains; resolves to the process's exit code. */
export async function run(agent: Agent, args: string[] = process.argv.slice(2)): Promise<number> {
  const write = (line: string): void => {
    process.stderr.write(line);
  };
  let options;
  try {
    options = parseArgs({
      args,
      strict: true,
      options: {
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string", default: String(agent.defaultPort) },
        grace: { type: "string", default: "10" },
        "log-format": { type: "string", default: "json" },
        "log-level": { type: "string", default: "info" },
        "tls-cert": { type: "string", default: process.env.AGENTMESH_TLS_CERT ?? "" },
        "tls-key": { type: "string", default: process.env.AGENTMESH_TLS_KEY ?? "" },
        "tls-client-ca": { type: "string", default: process.env.AGENTMESH_TLS_CLIENT_CA ?? "" },
        "metrics-port": { type: "string", default: process.env.AGENTMESH_METRICS_PORT ?? "" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    write(`${USAGE}\n`);
    return 0;
  }
  const port = Number(options.port);
  const grace = Number(options.grace);
  const format = options["log-format"];
  const level = options["log-level"].toLowerCase().replace(/^warn$/, "warning");
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !Number.isFinite(grace) || grace < 0 || (format !== "json" && format !== "text") || !isLevel(level)) {
    write(`invalid option: --port is 0..65535, --grace seconds, --log-format json or text, --log-level debug|info|warning|error\n${USAGE}\n`);
    return 2;
  }
  const metricsPort = options["metrics-port"] === "" ? undefined : Number(options["metrics-port"]);
  if (metricsPort !== undefined && (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535)) {
    write(`--metrics-port is 0..65535\n${USAGE}\n`);
    return 2;
  }
  const tls = { cert: options["tls-cert"], key: options["tls-key"], clientCa: options["tls-client-ca"] };
  const problem = tlsProblem(tls);
  if (problem !== undefined) {
    write(`${problem}\n${USAGE}\n`);
    return 2;
  }
  const log = newLogger(write, format, level);
  let server: AgentServer;
  let bound: number;
  let tracing: Tracing | undefined;
  try {
    tracing = await tracingFromEnv(`agentmesh-${agent.name}`, log);
    const credentials = serverCredentials(tls, log);
    let serving = (): boolean => false;
    const metrics = metricsPort === undefined ? undefined : (await serveMetrics(options.host, metricsPort, log, () => serving())).metrics;
    const agentServer = new AgentServer(agent, await fromEnv(agent.composers), log, metrics, tracing);
    serving = () => agentServer.serving;
    server = agentServer;
    bound = await server.listen(options.host, port, credentials);
  } catch (error) {
    log.error("cannot serve", { agent: agent.name, error: error instanceof Error ? error.message : String(error) });
    return 1;
  }
  const address = options.host.includes(":") ? `[${options.host}]:${bound}` : `${options.host}:${bound}`;
  if (tlsMode(tls) === "off" && !isLoopback(options.host)) {
    log.warning("serving plaintext on a non-loopback address: anyone who reaches it can call it unencrypted; give a TLS certificate and key, or bind 127.0.0.1", { address });
  }
  log.info("listening", { agent: agent.name, address, port: bound, llm_provider: server.llm.name, tls: tlsMode(tls) });
  // The handlers stay until the process exits: a second SIGTERM (or Ctrl-C) while calls finish,
  // or in the moment between the drain's end and the exit, must not kill the process with them,
  // as it does not in the other runtimes.
  let signalled = (): void => undefined;
  const onSignal = (): void => {
    signalled();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  await new Promise<void>((resolve) => {
    signalled = resolve;
  });
  await server.stop(grace * 1000);
  await tracing?.shutdown();
  return 0;
}

/** `run`, then exit with its code: the last line of an agent's main module. */
export function main(agent: Agent): void {
  run(agent).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    },
  );
}
