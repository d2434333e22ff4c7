// The post scheduler's input and output shapes: the same JSON Schemas as the Python agent had.
import { z } from "zod";

import { Platform } from "../social.js";

/** Whether `zone` names an IANA time zone, as luxon's IANAZone.isValidZone decides it. UTC, the
 * default, is known without asking Intl: the first Intl.DateTimeFormat maps ICU's time zone and
 * locale data, about 7 MB of an agent that has only validated its examples (BENCHMARKS.md, p6). */
function validZone(zone: string): boolean {
  if (zone === "UTC") {
    return true;
  }
  if (zone === "") {
    return false;
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone }).format();
    return true;
  } catch {
    return false;
  }
}

/** The fields of a script the scheduler uses; a video scriptor's script fits. */
export const ScriptRef = z.object({
  title: z.string().min(1),
  hook: z.string().default(""),
  call_to_action: z.string().default(""),
  hashtags: z.array(z.string()).default([]),
});
export type ScriptRef = z.output<typeof ScriptRef>;

export const ScheduleInput = z.object({
  platforms: z.array(Platform).min(1),
  script: z.union([ScriptRef, z.string()]).describe("The script to publish, or its title."),
  start: z.iso
    .datetime({ offset: true, local: true })
    .nullable()
    .default(null)
    .describe("ISO 8601; the first post goes out after it. Default: now."),
  timezone: z
    .string()
    .default("UTC")
    .refine(validZone, { error: (issue) => `unknown IANA time zone ${JSON.stringify(issue.input)}` })
    .describe("IANA time zone the schedule is planned in."),
  posts_per_platform: z.int().min(1).max(7).default(1).describe("Posts per platform, one per day."),
});
export type ScheduleInput = z.output<typeof ScheduleInput>;

export const Captions = z.object({
  captions: z.record(z.string(), z.string()).describe("A caption per platform name."),
});

export const Post = z.object({
  platform: Platform,
  scheduled_time: z.string().describe("ISO 8601 with the zone's UTC offset."),
  caption: z.string(),
  hashtags: z.array(z.string()),
});

export const Schedule = z.object({
  timezone: z.string(),
  posts: z.array(Post).min(1),
});
export type Schedule = z.output<typeof Schedule>;
