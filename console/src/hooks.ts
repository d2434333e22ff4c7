// Loading data for a view: once, or again every few seconds while the page is visible.

import { useCallback, useEffect, useRef, useState } from "preact/hooks";

export interface Resource<T> {
  data: T | null;
  error: string;
  loading: boolean;
  reload: () => void;
}

export function usePolled<T>(load: (signal: AbortSignal) => Promise<T>, key: string, intervalMs = 0): Resource<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState("");
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loader = useRef(load);
  loader.current = load;
  const loaded = useRef("");

  useEffect(() => {
    if (loaded.current !== key) {
      setData(null);
      setLoading(true);
    }
  }, [key]);

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async (): Promise<void> => {
      if (document.visibilityState !== "hidden" || loaded.current !== key) {
        try {
          const value = await loader.current(controller.signal);
          if (controller.signal.aborted) return;
          setData(value);
          setError("");
          loaded.current = key;
        } catch (exc) {
          if (controller.signal.aborted) return;
          setError(exc instanceof Error ? exc.message : String(exc));
        } finally {
          if (!controller.signal.aborted) setLoading(false);
        }
      }
      if (intervalMs > 0 && !controller.signal.aborted) {
        timer = setTimeout(() => {
          void run();
        }, intervalMs);
      }
    };
    void run();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [key, intervalMs, tick]);

  const reload = useCallback(() => {
    setTick((t) => t + 1);
  }, []);
  return { data, error, loading, reload };
}

/** The time now, updated every `everyMs` (durations of running things tick). */
export function useNow(everyMs = 1000, active = true): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => {
      setNow(Date.now());
    }, everyMs);
    return () => {
      clearInterval(timer);
    };
  }, [everyMs, active]);
  return now;
}
