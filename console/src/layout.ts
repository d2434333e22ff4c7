// Layouts by workflow shape, computed once in a worker and kept for the session: reopening a
// run of the same workflow draws its graph at once.

import type { Layout, LayoutRequest } from "./layout-core";
import type { Step } from "./types";

declare const LAYOUT_WORKER_URL: string;

const cache = new Map<string, Promise<Layout>>();
let worker: Worker | null | undefined;
const waiting = new Map<string, (layout: Layout) => void>();

function layoutWorker(): Worker | null {
  if (worker === undefined) {
    try {
      worker = new Worker(LAYOUT_WORKER_URL);
      worker.onmessage = (event: MessageEvent<Layout>) => {
        waiting.get(event.data.key)?.(event.data);
        waiting.delete(event.data.key);
      };
    } catch {
      worker = null;
    }
  }
  return worker;
}

export function shapeKey(steps: Step[]): string {
  return steps.map((step) => `${step.id}<${(step.dependencies ?? []).join(",")}`).join(";");
}

export function layoutOf(steps: Step[]): Promise<Layout> {
  const key = shapeKey(steps);
  let found = cache.get(key);
  if (!found) {
    const request: LayoutRequest = {
      key,
      nodes: steps.map((step) => ({ id: step.id })),
      edges: steps.flatMap((step) => (step.dependencies ?? []).map((dep): [string, string] => [dep, step.id])),
    };
    const target = layoutWorker();
    found = target
      ? new Promise<Layout>((resolve) => {
          waiting.set(key, resolve);
          target.postMessage(request);
        })
      : Promise.reject(new Error("this browser cannot run the layout worker"));
    cache.set(key, found);
  }
  return found;
}
