// The video scriptor's input and output shapes: the same JSON Schemas as the Python agent had.
import { z } from "zod";

import { Platform } from "../social.js";

/** The fields of a trend the scriptor uses; a trend scanner's trend fits (other fields are ignored). */
export const TrendRef = z.object({
  name: z.string().min(1).max(200),
  hashtag: z.string().max(100).default(""),
  description: z.string().max(500).default(""),
});

// Bounded, because the script repeats a trend's name in several scenes.
export const TrendName = z.string().min(1).max(200);

export const ScriptInput = z.object({
  format: z.string().min(2).max(60).describe("e.g. unboxing, tutorial, review."),
  objective: z.string().min(2).max(200).describe("e.g. product_launch, awareness."),
  trends: z.array(z.union([TrendRef, TrendName])).max(20).default([]).describe("Trends to ride, best first."),
  topic: z.string().max(200).default(""),
  platform: Platform.default("tiktok"),
  duration_seconds: z.int().min(15).max(180).default(60),
});
export type ScriptInput = z.output<typeof ScriptInput>;

export const Scene = z.object({
  number: z.int().min(1),
  duration_seconds: z.int().min(1),
  visual: z.string(),
  narration: z.string(),
  on_screen_text: z.string().default(""),
});

export const Script = z.object({
  title: z.string(),
  format: z.string(),
  objective: z.string(),
  platform: Platform,
  hook: z.string(),
  scenes: z.array(Scene).min(1),
  call_to_action: z.string(),
  hashtags: z.array(z.string()),
  duration_seconds: z.int(),
});
export type Script = z.output<typeof Script>;
