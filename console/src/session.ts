// Who is using the console. The gateway says (GET /v1/caller) whether it checks tokens at all
// and what the caller's role allows; the token lives in this tab's sessionStorage (a reload
// keeps you signed in; closing the tab forgets it) and goes out only as a header.

import { ApiError, api, setToken, whenUnauthenticated } from "./api";
import { Store } from "./store";
import type { Caller } from "./types";

const KEY = "agentmesh.console.token";

export type Session =
  | { status: "loading" }
  | { status: "unreachable"; message: string }
  | { status: "signed-out"; message: string }
  | { status: "ready"; caller: Caller; token: string | null };

export const session = new Store<Session>({ status: "loading" });

function stored(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

function keep(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(KEY);
    else sessionStorage.setItem(KEY, token);
  } catch {
    // storage refused (private mode): the token stays in memory only
  }
}

whenUnauthenticated(() => {
  if (session.value.status === "ready" && session.value.caller.authenticated === true) {
    setToken(null);
    keep(null);
    session.set({ status: "signed-out", message: "The gateway no longer accepts your token: sign in again." });
  }
});

/** Ask the gateway who we are, with the token this tab kept (if any). */
export async function startSession(): Promise<void> {
  const token = stored();
  setToken(token);
  try {
    const caller = await api.caller();
    session.set({ status: "ready", caller, token });
  } catch (exc) {
    if (exc instanceof ApiError && (exc.status === 401 || exc.status === 403)) {
      setToken(null);
      keep(null);
      session.set({ status: "signed-out", message: token === null ? "" : "Your token was refused: sign in again." });
    } else {
      session.set({ status: "unreachable", message: exc instanceof Error ? exc.message : String(exc) });
    }
  }
}

/** Check a token with the gateway; keep it if it is accepted. Returns the error to show, if any. */
export async function signIn(token: string): Promise<string | null> {
  setToken(token);
  try {
    const caller = await api.caller();
    keep(token);
    session.set({ status: "ready", caller, token });
    return null;
  } catch (exc) {
    setToken(null);
    if (exc instanceof ApiError && exc.status === 401) return "The gateway did not accept this token.";
    if (exc instanceof ApiError && exc.status === 403) return `This token has no role on the gateway: ${exc.message}`;
    return exc instanceof Error ? exc.message : String(exc);
  }
}

export function signOut(): void {
  setToken(null);
  keep(null);
  session.set({ status: "signed-out", message: "" });
}

/** Whether the caller may start, cancel and answer runs (operators and admins; anyone without auth). */
export function canOperate(caller: Caller): boolean {
  if (caller.authenticated !== true) return true;
  return caller.role === "CALLER_ROLE_OPERATOR" || caller.role === "CALLER_ROLE_ADMIN";
}

export function roleLabel(caller: Caller): string {
  switch (caller.role) {
    case "CALLER_ROLE_VIEWER":
      return "viewer";
    case "CALLER_ROLE_OPERATOR":
      return "operator";
    case "CALLER_ROLE_ADMIN":
      return "admin";
    default:
      return "unknown role";
  }
}

const RANKS: Record<string, number> = { viewer: 1, operator: 2, admin: 3 };
const CALLER_RANKS: Record<string, number> = { CALLER_ROLE_VIEWER: 1, CALLER_ROLE_OPERATOR: 2, CALLER_ROLE_ADMIN: 3 };

/** Whether the caller may answer a question for this role and these principals (an ask step's):
 * the gateway lets only operators call ProvideInput at all, then checks the question's own terms. */
export function mayAnswer(caller: Caller, role: string | undefined, principals: string[] | undefined): boolean {
  if (caller.authenticated !== true) return true;
  if (!canOperate(caller)) return false;
  if (principals && principals.length > 0) return principals.includes(caller.principal ?? "");
  return (CALLER_RANKS[caller.role ?? ""] ?? 0) >= (RANKS[role || "operator"] ?? 2);
}
