export { fromEnv } from "./env.js";
export { type Composer, Offline, OFFLINE_MODEL } from "./offline.js";
export { addUsage, forHttpStatus, type Generation, type Prompt, type Provider, type Turn, unavailable, type Usage } from "./provider.js";
