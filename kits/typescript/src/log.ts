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
      const time = new Date().toISOString();
      if (format === "json") {
        write(JSON.stringify({ time, level: at, msg, ...fields }) + "\n");
      } else {
        const extra = Object.entries(fields).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
        write([time, at.toUpperCase(), msg, ...extra].join(" ") + "\n");
      }
    };
  return { debug: emit("debug"), info: emit("info"), warning: emit("warning"), error: emit("error") };
}

/** A logger that drops everything: for tests and embedded servers. */
export const silent: Logger = newLogger(() => undefined, "json", "error");
