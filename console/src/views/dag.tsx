// A workflow's DAG: one node per step, an edge per dependency, each node saying what the step does
// (an agent's skill, a question, a sleep, a child run) and its state in words and a glyph as well
// as in color. The layout comes from a worker (layout.ts); until it arrives the page shows
// everything else.

import { Component } from "preact";
import { useEffect, useState } from "preact/hooks";

import { clockTime, stepLook } from "../format";
import { layoutOf } from "../layout";
import type { Layout } from "../layout-core";
import { NODE_HEIGHT, NODE_WIDTH } from "../nodesize";
import type { StepView } from "../runmodel";
import { KIND_GLYPHS, stepDoes, stepKind, type StepKind } from "../stepkind";
import type { Step } from "../types";

interface NodeProps {
  id: string;
  x: number;
  y: number;
  label: string;
  glyph: string;
  /** What the step does, and the glyph of its kind. */
  does: string;
  kind: StepKind;
  tone: string;
  detail: string;
  selected: boolean;
  focusable: boolean;
  onSelect?: ((id: string) => void) | undefined;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** One node; redrawn only when what it shows changes (a live 1,000-node graph stays cheap). */
class DagNode extends Component<NodeProps> {
  override shouldComponentUpdate(next: NodeProps): boolean {
    const p = this.props;
    return (
      p.x !== next.x ||
      p.y !== next.y ||
      p.label !== next.label ||
      p.tone !== next.tone ||
      p.detail !== next.detail ||
      p.does !== next.does ||
      p.selected !== next.selected
    );
  }

  override render() {
    const { id, x, y, label, glyph, tone, detail, does, kind, selected, focusable, onSelect } = this.props;
    const select = onSelect
      ? () => {
          onSelect(id);
        }
      : undefined;
    return (
      <g
        class={`node tone-${tone} kind-${kind}${selected ? " selected" : ""}`}
        transform={`translate(${x - NODE_WIDTH / 2},${y - NODE_HEIGHT / 2})`}
        data-step={id}
        data-state={label}
        data-kind={kind}
        role={onSelect ? "button" : undefined}
        tabIndex={onSelect && focusable ? 0 : undefined}
        aria-label={`step ${id}, ${does}${label ? `: ${label}` : ""}${detail ? `, ${detail}` : ""}`}
        onClick={select}
        onKeyDown={
          select
            ? (event: KeyboardEvent) => {
                if (event.key === "Enter" || event.key === " ") {
                  event.preventDefault();
                  select();
                }
              }
            : undefined
        }
      >
        <rect width={NODE_WIDTH} height={NODE_HEIGHT} rx="7" />
        <text x="10" y="20" class="node-id">
          {clip(id, 24)}
        </text>
        <text x="10" y="37" class="node-does">
          {clip(`${KIND_GLYPHS[kind]} ${does}`, 28)}
        </text>
        <text x="10" y="54" class="node-state">
          {clip(`${glyph ? `${glyph} ` : ""}${label}${detail ? ` · ${detail}` : ""}`, 28)}
        </text>
      </g>
    );
  }
}

/** A definition's node (no run): what modifies the step, if anything. */
function modifiers(step: Step): string {
  const parts: string[] = [];
  if (step.forEach) parts.push("for each");
  if (step.when) parts.push("when");
  if (step.retry?.maxAttempts) parts.push(`${step.retry.maxAttempts} attempts`);
  if (step.continueOnFailure) parts.push("may fail");
  return parts.join(" · ");
}

function edgePath(points: { x: number; y: number }[]): string {
  return points.map((p, i) => `${i === 0 ? "M" : "L"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join("");
}

interface Props {
  steps: Step[];
  views?: Map<string, StepView> | undefined;
  selected?: string | undefined;
  onSelect?: (id: string) => void;
  /** Changes whenever a step's state may have (the run model's version). */
  version?: number;
}

export function stepDetail(view: StepView | undefined): string {
  if (!view) return "";
  const parts: string[] = [];
  if (view.state === "STEP_STATE_SLEEPING" && view.wakeTime !== null) parts.push(`wakes ${clockTime(view.wakeTime).slice(0, 8)}`);
  if (view.state === "STEP_STATE_QUEUED" && view.queue) parts.push(view.queue.limit === "rate" ? "rate limit" : "concurrency");
  if (view.childRunIds.length > 1) parts.push(`${view.childRunIds.length} child runs`);
  if (view.itemsTotal > 0) parts.push(`${view.itemsDone}/${view.itemsTotal} items`);
  if (view.attempts > 1) parts.push(`attempt ${view.attempts}`);
  return parts.join(", ");
}

export function Dag({ steps, views, selected, onSelect }: Props) {
  const [layout, setLayout] = useState<Layout | null>(null);
  const [failed, setFailed] = useState("");
  useEffect(() => {
    let live = true;
    layoutOf(steps).then(
      (found) => {
        if (live) setLayout(found);
      },
      (exc: unknown) => {
        if (live) setFailed(exc instanceof Error ? exc.message : String(exc));
      },
    );
    return () => {
      live = false;
    };
  }, [steps]);
  useEffect(() => {
    if (layout && views) {
      requestAnimationFrame(() => {
        requestAnimationFrame(() => {
          if (performance.getEntriesByName("console:dag-drawn").length === 0) performance.mark("console:dag-drawn");
        });
      });
    }
  }, [layout, views]);
  if (failed) return <p class="muted">The graph cannot be drawn: {failed}</p>;
  if (!layout) {
    return (
      <p class="muted" aria-busy="true">
        Laying out {steps.length} steps…
      </p>
    );
  }
  const focusable = steps.length <= 200;
  return (
    <div class="dag-scroll" data-testid="dag">
      <svg
        class="dag"
        width={layout.width}
        height={layout.height}
        viewBox={`0 0 ${layout.width} ${layout.height}`}
        role="group"
        aria-label={`workflow graph of ${steps.length} steps`}
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0L10,5L0,10z" class="arrowhead" />
          </marker>
        </defs>
        <g class="edges" aria-hidden="true">
          {layout.edges.map((edge) => (
            <path key={`${edge.from}>${edge.to}`} d={edgePath(edge.points)} class="edge" marker-end="url(#arrow)" />
          ))}
        </g>
        {steps.map((step) => {
          const position = layout.nodes[step.id];
          if (!position) return null;
          const view = views?.get(step.id);
          const look = views ? stepLook(view?.state) : { label: modifiers(step), glyph: "", tone: "plain" };
          const detail = views ? stepDetail(view) : "";
          return (
            <DagNode
              key={step.id}
              id={step.id}
              x={position.x}
              y={position.y}
              label={look.label}
              glyph={look.glyph}
              does={stepDoes(step)}
              kind={stepKind(step)}
              tone={look.tone}
              detail={detail}
              selected={selected === step.id}
              focusable={focusable}
              onSelect={onSelect}
            />
          );
        })}
      </svg>
    </div>
  );
}
