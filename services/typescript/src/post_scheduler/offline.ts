// How the offline model answers the post scheduler: a caption per platform from the script.
import { z } from "zod";

import { head, Platform } from "../social.js";
import { ScriptRef } from "./models.js";

// Platforms cap caption length; X is the tightest.
const CAPTION_LIMITS: Record<Platform, number> = { x: 280, tiktok: 2200, instagram: 2200, youtube: 5000, linkedin: 3000, facebook: 5000 };

export const CaptionTask = z.object({ platforms: z.array(Platform), script: ScriptRef });

export function captions(data: z.output<typeof CaptionTask>): { captions: Record<string, string> } {
  const { title, hook, call_to_action: cta } = data.script;
  const out: Record<string, string> = {};
  for (const platform of data.platforms) {
    const text = ["tiktok", "instagram", "x"].includes(platform) ? `${hook} ${cta}`.trim() : `${title}. ${hook} ${cta}`.trim();
    out[platform] = head(text, CAPTION_LIMITS[platform]);
  }
  return { captions: out };
}
