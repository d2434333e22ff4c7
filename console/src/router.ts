// Routes live in the URL's path (/runs, /runs/RUN_ID, /agents/NAME, /workflows/NAME, /schedules,
// /schedules/NAME, /metrics) and query (filters, the selected step, a workflow's version), so a
// reload or a shared link opens the same view.
// The gateway answers every one of these paths with the console's index.html.

import { Store } from "./store";

export type RouteName = "runs" | "run" | "agents" | "agent" | "workflows" | "workflow" | "schedules" | "schedule" | "metrics" | "not-found";

export interface Route {
  name: RouteName;
  id: string;
  query: URLSearchParams;
}

export const location = new Store<string>(window.location.pathname + window.location.search);

window.addEventListener("popstate", () => {
  location.set(window.location.pathname + window.location.search);
});

export function navigate(to: string, replace = false): void {
  if (to === location.value) return;
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  location.set(to);
}

export function route(url: string): Route {
  const parsed = new URL(url, window.location.origin);
  const parts = parsed.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const query = parsed.searchParams;
  const [head, id, ...rest] = parts;
  if (rest.length > 0) return { name: "not-found", id: "", query };
  switch (head) {
    case undefined:
    case "runs":
      return { name: id === undefined ? "runs" : "run", id: id ?? "", query };
    case "agents":
      return { name: id === undefined ? "agents" : "agent", id: id ?? "", query };
    case "workflows":
      return { name: id === undefined ? "workflows" : "workflow", id: id ?? "", query };
    case "schedules":
      return { name: id === undefined ? "schedules" : "schedule", id: id ?? "", query };
    case "metrics":
      return { name: id === undefined ? "metrics" : "not-found", id: "", query };
    default:
      return { name: "not-found", id: "", query };
  }
}

/** A same-origin link followed without reloading the page (modified clicks open tabs as usual). */
export function onLinkClick(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const anchor = (event.target as Element | null)?.closest("a");
  if (!anchor || anchor.target || anchor.origin !== window.location.origin || anchor.hasAttribute("download")) return;
  event.preventDefault();
  navigate(anchor.pathname + anchor.search);
}

export function withQuery(path: string, params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}
