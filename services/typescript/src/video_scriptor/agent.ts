// The video scriptor: format, objective and trends in, a short-video script out.
import { Agent } from "@agentmesh/kit";

import { Script, ScriptInput } from "./models.js";
import { script } from "./offline.js";

export const DEFAULT_PORT = 50066;

export const agent = new Agent({
  name: "video-scriptor",
  description: "Writes short-video scripts (hook, scenes, call to action) that ride current trends.",
  version: "1.0.0",
  defaultPort: DEFAULT_PORT,
});

agent.skill(
  {
    id: "script",
    description: "Write a short-video script.",
    input: ScriptInput,
    output: Script,
    examples: [{ format: "unboxing", objective: "product_launch", trends: [{ name: "gadget first look" }] }],
  },
  async (data, call) => {
    const trends = data.trends;
    const result = await call.generateJSON(Script, {
      system: "You write short, punchy scripts for vertical video that hook viewers in the first second.",
      user:
        `Write a ${data.duration_seconds}-second ${data.format} script for ${data.platform} with objective ` +
        `is ${data.objective}. Topic: ${data.topic || "as the trends suggest"}. Trends to ride: ` +
        `${pythonJSON(trends)}. Give a hook, numbered scenes with durations, a call to action and hashtags.`,
      data,
    });
    const lines = [`**${result.title}** (${result.duration_seconds}s, ${result.platform})`, `Hook: ${result.hook}`];
    lines.push(...result.scenes.map((s) => `${s.number}. [${s.duration_seconds}s] ${s.visual}: ${s.narration}`));
    lines.push(`CTA: ${result.call_to_action} ${result.hashtags.join(" ")}`);
    return { text: lines.join("\n"), data: result };
  },
);

agent.compose("script", ScriptInput, script);

/** JSON spelled as Python's json.dumps spells it (", " and ": "), as the model was always shown. */
function pythonJSON(value: unknown): string {
  return JSON.stringify(value).replace(/("(?:[^"\\]|\\.)*")|([,:])/g, (match, quoted: string | undefined) => quoted ?? `${match} `);
}
