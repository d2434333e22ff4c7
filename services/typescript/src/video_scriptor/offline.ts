// How the offline model answers the video scriptor: a hook, timed scenes and a call to action.
import { capitalize, hashtag, head } from "../social.js";
import type { Script, ScriptInput } from "./models.js";

const CTA: Record<string, string> = {
  product_launch: "Tap the link to be first in line for the launch.",
  awareness: "Follow for more, and share this with someone who needs it.",
  engagement: "Tell us in the comments which one you'd pick.",
  sales: "Order today through the link in bio.",
};

export function script(data: ScriptInput): Script {
  const format = data.format.replaceAll("_", " ");
  const trends = data.trends.map((t) => (typeof t === "string" ? t : t.name));
  const tags = data.trends.flatMap((t) => (typeof t !== "string" && t.hashtag ? [t.hashtag] : []));
  const subject = data.topic || (trends[0] ?? format);
  const duration = data.duration_seconds;
  const beats: [string, string][] = [
    ["Close-up of the product in its box", `Everyone is talking about ${subject}. Here's why.`],
    [`The ${format} itself, one step at a time`, `This is the ${format} moment: watch what happens.`],
    ["Reaction shot, then the detail that matters", `The part nobody mentions about ${subject}.`],
    ...trends.slice(1, 3).map((t): [string, string] => [`Nod to the trend: ${t}`, `And yes, it fits the ${t} trend.`]),
  ];
  const hookLength = Math.max(3, Math.floor(duration / 10));
  const perScene = Math.max(1, Math.floor((duration - hookLength) / beats.length));
  const scenes = beats.map(([visual, narration], i) => ({
    number: i + 1,
    duration_seconds: perScene,
    visual,
    narration,
    on_screen_text: head(narration.split(".")[0] ?? "", 40),
  }));
  return {
    title: `${capitalize(subject)}: ${format} for ${data.objective.replaceAll("_", " ")}`,
    format: data.format,
    objective: data.objective,
    platform: data.platform,
    hook: `Stop scrolling: this ${format} of ${subject} is not what you expect.`,
    scenes,
    call_to_action: CTA[data.objective] ?? "Follow for the next one.",
    hashtags: (tags.length > 0 ? tags : [hashtag(subject)]).slice(0, 5),
    duration_seconds: hookLength + perScene * scenes.length,
  };
}
