// Vocabulary and text helpers the content agents share, ported from the Python agents so that
// offline answers stay the same number for number and character for character.
import { z } from "zod";

export const Platform = z.enum(["tiktok", "instagram", "youtube", "x", "linkedin", "facebook"]);
export type Platform = z.infer<typeof Platform>;

/** The first `n` characters (code points, as Python slices a str). */
export function head(text: string, n: number): string {
  return Array.from(text).slice(0, n).join("");
}

/** Python's str.capitalize: the first character upper-case, the rest lower-case. */
export function capitalize(text: string): string {
  const [first = "", ...rest] = Array.from(text);
  return first.toUpperCase() + rest.join("").toLowerCase();
}

/** The words of `text` capitalized and run together, at most 40 characters after the '#'. */
export function hashtag(text: string): string {
  const words = text.match(/[\p{L}\p{N}_]+/gu) ?? [];
  return "#" + head(words.map(capitalize).join(""), 40);
}
