// The post scheduler: platforms and a script in, a schedule of posts with ISO timestamps out.
// When to post is computed, not generated: each platform has a habitual peak hour, and a model
// is no clock. The model writes the captions.
import { Agent } from "@agentmesh/kit";
import type { DateTime } from "luxon";

import type { Platform } from "../social.js";
import { head } from "../social.js";
import { Captions, Schedule, ScheduleInput, type ScriptRef } from "./models.js";
import { CaptionTask, captions } from "./offline.js";

export const DEFAULT_PORT = 50067;

// Local hour at which each platform's audience is habitually most active.
export const PEAK_HOUR: Record<Platform, number> = { tiktok: 19, instagram: 11, youtube: 15, x: 9, linkedin: 8, facebook: 13 };

export const agent = new Agent({
  name: "post-scheduler",
  description: "Plans when and with which caption a script is posted on each platform.",
  version: "1.0.0",
  defaultPort: DEFAULT_PORT,
});

agent.skill(
  {
    id: "schedule",
    description: "Schedule posts of a script across platforms.",
    input: ScheduleInput,
    output: Schedule,
    examples: [
      {
        platforms: ["tiktok", "instagram"],
        script: { title: "Robots at home", hook: "Meet your new helper.", call_to_action: "Follow!" },
      },
    ],
  },
  async (data, call) => {
    const script: ScriptRef = typeof data.script === "string" ? { title: data.script, hook: "", call_to_action: "", hashtags: [] } : data.script;
    const platforms = [...new Set(data.platforms)];
    const answer = await call.generateJSON(Captions, {
      system: "You write platform-native captions for short videos.",
      user:
        `Write one caption for each of ${platforms.join(", ")} for the video '${script.title}' ` +
        `(hook: ${script.hook}; call to action: ${script.call_to_action}). Answer as ` +
        '{"captions": {"<platform>": "<caption>"}}.',
      data: { platforms, script },
    });
    // luxon loads with the first schedule: an idle scheduler does not hold it (BENCHMARKS.md, p6).
    const { DateTime } = await import("luxon");
    const start = data.start === null ? DateTime.now().setZone(data.timezone) : localize(DateTime, data.start, data.timezone);
    const posts = platforms
      .flatMap((platform) =>
        Array.from({ length: data.posts_per_platform }, (_, day) => {
          const at = nextPeak(start, PEAK_HOUR[platform], day);
          return { at, post: { platform, scheduled_time: iso(at), caption: answer.captions[platform] ?? script.title, hashtags: script.hashtags } };
        }),
      )
      .sort((a, b) => a.at.toMillis() - b.at.toMillis())
      .map(({ post }) => post);
    const lines = [`${posts.length} posts scheduled (${data.timezone}):`, ...posts.map((p) => `- ${p.scheduled_time} ${p.platform}: ${head(p.caption, 60)}`)];
    return { text: lines.join("\n"), data: { timezone: data.timezone, posts } };
  },
);

agent.compose("schedule", CaptionTask, captions);

/** A start with an offset, seen in `zone`; a start without one, read as wall time in `zone`. */
function localize(dateTime: typeof DateTime, start: string, zone: string): DateTime {
  const hasOffset = /(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$/.test(start);
  return hasOffset ? dateTime.fromISO(start, { setZone: true }).setZone(zone) : dateTime.fromISO(start, { zone });
}

/** The first `hour`:00 strictly after `start`, plus `extraDays` days, in wall-clock days. */
function nextPeak(start: DateTime, hour: number, extraDays: number): DateTime {
  let slot = start.set({ hour, minute: 0, second: 0, millisecond: 0 });
  if (slot <= start) {
    slot = slot.plus({ days: 1 });
  }
  return slot.plus({ days: extraDays });
}

/** ISO 8601 as Python's isoformat writes it: seconds, and the zone's offset (+00:00 for UTC). */
function iso(moment: DateTime): string {
  const text = moment.toISO({ suppressMilliseconds: true, includeOffset: true }) ?? "";
  return text.endsWith("Z") ? `${text.slice(0, -1)}+00:00` : text;
}
