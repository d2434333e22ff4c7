// JSON log lines on stderr, one per event: the fields every agentmesh runtime writes (time,
// level, msg, then the event's own), so one log pipeline reads agents of every language.
export type Level = "debug" | "info" | "warning" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warning: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warning(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

export function isLevel(value: string): value is Level {
  return value in ORDER;
}

export function newLogger(write: (line: string) => void, format: "json" | "text", level: Level): Logger {
  const emit =
    (at: Level) =>
    (msg: string, fields: Fields = {}): void => {
      if (ORDER[at] < ORDER[level]) {
        return;
      }
      const time = isoTime(new Date());
      if (format === "json") {
        write(JSON.stringify({ time, level: at, msg, ...fields }) + "\n");
      } else {
        const extra = Object.entries(fields).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
        write([time, at.toUpperCase(), msg, ...extra].join(" ") + "\n");
      }
    };
  return { debug: emit("debug"), info: emit("info"), warning: emit("warning"), error: emit("error") };
}

/** `date` as toISOString writes it (UTC, milliseconds, Z), from its UTC fields: toISOString
 * maps ICU's time zone data on first use, about 0.4 MB of every agent, which logs at start
 * (BENCHMARKS.md, p6). */
export function isoTime(date: Date): string {
  const two = (n: number): string => String(n).padStart(2, "0");
  const year = date.getUTCFullYear();
  const extended = year < 0 || year > 9999; // six digits and a sign, as ECMAScript writes them
  const day = `${extended ? (year < 0 ? "-" : "+") : ""}${String(Math.abs(year)).padStart(extended ? 6 : 4, "0")}-${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())}`;
  const time = `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}.${String(date.getUTCMilliseconds()).padStart(3, "0")}`;
  return `${day}T${time}Z`;
}

/** A logger that drops everything: for tests and embedded servers. */
export const silent: Logger = newLogger(() => undefined, "json", "error");
