// The console's frame: sign-in when the gateway checks tokens, the navigation, and the view
// the URL names.

import { useEffect, useRef, useState } from "preact/hooks";

import { location, onLinkClick, route } from "./router";
import { canOperate, roleLabel, session, signIn, signOut, startSession } from "./session";
import { useStore } from "./store";
import { AgentsView, AgentView } from "./views/agents";
import { MetricsView } from "./views/metricsview";
import { RunView } from "./views/run";
import { RunsView } from "./views/runs";
import { ScheduleView, SchedulesView } from "./views/schedules";
import { WorkflowsView, WorkflowView } from "./views/workflows";

const NAV: [string, string, string[]][] = [
  ["/runs", "Runs", ["runs", "run"]],
  ["/workflows", "Workflows", ["workflows", "workflow"]],
  ["/schedules", "Schedules", ["schedules", "schedule"]],
  ["/agents", "Agents", ["agents", "agent"]],
  ["/metrics", "Metrics", ["metrics"]],
];

function SignIn({ message }: { message: string }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState(message);
  const [busy, setBusy] = useState(false);
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => {
    field.current?.focus();
  }, []);
  return (
    <main id="main" class="signin">
      <h1>Sign in to agentmesh</h1>
      <p>This gateway checks bearer tokens. Paste one (an operator makes them with <code>agentmesh token new</code>).</p>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          setBusy(true);
          void signIn(token.trim()).then((problem) => {
            setBusy(false);
            setError(problem ?? "");
          });
        }}
      >
        <div class="field">
          <label for="token">API token</label>
          <input
            ref={field}
            id="token"
            type="password"
            autocomplete="off"
            spellcheck={false}
            required
            value={token}
            aria-describedby={error ? "signin-error" : "token-hint"}
            onInput={(event) => {
              setToken(event.currentTarget.value);
            }}
          />
          <small id="token-hint" class="hint">
            Kept in this tab only (sessionStorage) and sent as an Authorization header.
          </small>
        </div>
        {error ? (
          <p id="signin-error" class="form-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy || token.trim() === ""}>
          {busy ? "Checking…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}

export function App() {
  const state = useStore(session);
  const url = useStore(location);
  const current = route(url);
  const first = useRef(true);

  useEffect(() => {
    void startSession();
  }, []);

  // After a navigation (not the first load), focus goes to the new view's heading.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const heading = document.getElementById("page-title");
    if (heading && !heading.contains(document.activeElement)) heading.focus({ preventScroll: false });
  }, [current.name, current.id]);

  useEffect(() => {
    const label = current.name === "run" ? `run ${current.id.slice(0, 12)}` : current.id || current.name;
    document.title = `${label} · agentmesh`;
  }, [current.name, current.id]);

  if (state.status === "loading") {
    return (
      <main id="main" class="center" aria-busy="true">
        <p>Connecting to the gateway…</p>
      </main>
    );
  }
  if (state.status === "unreachable") {
    return (
      <main id="main" class="center">
        <h1>The gateway cannot be reached</h1>
        <p class="form-error">{state.message}</p>
        <button
          type="button"
          onClick={() => {
            void startSession();
          }}
        >
          Try again
        </button>
      </main>
    );
  }
  if (state.status === "signed-out") return <SignIn message={state.message} />;

  const caller = state.caller;
  const operate = canOperate(caller);
  let view;
  switch (current.name) {
    case "runs":
      view = <RunsView query={current.query} />;
      break;
    case "run":
      view = <RunView key={current.id} runId={current.id} query={current.query} canOperate={operate} caller={caller} />;
      break;
    case "agents":
      view = <AgentsView />;
      break;
    case "agent":
      view = <AgentView key={current.id} name={current.id} />;
      break;
    case "workflows":
      view = <WorkflowsView />;
      break;
    case "workflow":
      view = <WorkflowView key={current.id} name={current.id} query={current.query} canOperate={operate} />;
      break;
    case "schedules":
      view = <SchedulesView canOperate={operate} />;
      break;
    case "schedule":
      view = <ScheduleView key={current.id} name={current.id} canOperate={operate} />;
      break;
    case "metrics":
      view = <MetricsView />;
      break;
    case "not-found":
      view = (
        <section>
          <h1 id="page-title" tabIndex={-1}>
            Not found
          </h1>
          <p>
            Nothing lives at this address. <a href="/runs">See the runs</a>.
          </p>
        </section>
      );
      break;
  }
  return (
    <div class="shell" onClick={onLinkClick}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/runs" aria-label="agentmesh console, runs">
          <span aria-hidden="true">◆</span> agentmesh
        </a>
        <nav aria-label="main">
          <ul>
            {NAV.map(([href, label, names]) => (
              <li key={href}>
                <a href={href} aria-current={names.includes(current.name) ? "page" : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          {caller.authenticated ? (
            <>
              <span data-testid="caller">
                {caller.principal} · {roleLabel(caller)}
              </span>
              <button type="button" class="quiet" onClick={signOut}>
                Sign out
              </button>
            </>
          ) : (
            <span class="muted small" data-testid="caller">
              no sign-in needed
            </span>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {view}
      </main>
    </div>
  );
}
