// The provider AGENTMESH_LLM asks for, configured from the variables every runtime reads. The
// SDKs are imported only when chosen, so an offline agent does not carry them in memory.
import { status as Status } from "@grpc/grpc-js";

import { AgentError } from "../errors.js";
import { type Composer, Offline } from "./offline.js";
import type { Provider } from "./provider.js";

export async function fromEnv(
  composers: ReadonlyMap<string, Composer>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<Provider> {
  const or = (key: string, fallback: string): string => env[key] || fallback;
  const choice = or("AGENTMESH_LLM", "offline").trim().toLowerCase();
  switch (choice) {
    case "offline": {
      const latency = Number(or("AGENTMESH_OFFLINE_LATENCY_MS", "0"));
      if (!Number.isFinite(latency) || latency < 0) {
        throw new AgentError(Status.INVALID_ARGUMENT, "LLM_UNKNOWN", "AGENTMESH_OFFLINE_LATENCY_MS must be a number of milliseconds");
      }
      return new Offline(composers, latency);
    }
    case "gemini": {
      const key = or("GOOGLE_API_KEY", or("GEMINI_API_KEY", ""));
      if (!key) {
        throw new AgentError(Status.FAILED_PRECONDITION, "LLM_AUTH_FAILED", "AGENTMESH_LLM=gemini needs GOOGLE_API_KEY or GEMINI_API_KEY");
      }
      const { Gemini, DEFAULT_GEMINI_MODEL } = await import("./gemini.js");
      return new Gemini(key, or("AGENTMESH_GEMINI_MODEL", DEFAULT_GEMINI_MODEL), env.AGENTMESH_GEMINI_BASE_URL);
    }
    case "openai": {
      const { OpenAI, DEFAULT_OPENAI_BASE_URL, DEFAULT_OPENAI_MODEL } = await import("./openai.js");
      return new OpenAI(
        or("AGENTMESH_OPENAI_BASE_URL", DEFAULT_OPENAI_BASE_URL),
        or("AGENTMESH_OPENAI_MODEL", DEFAULT_OPENAI_MODEL),
        or("AGENTMESH_OPENAI_API_KEY", or("OPENAI_API_KEY", "")),
      );
    }
  }
  throw new AgentError(Status.INVALID_ARGUMENT, "LLM_UNKNOWN", `AGENTMESH_LLM=${JSON.stringify(choice)} is not one of offline, gemini, openai`);
}
