// dagre over a workflow's steps: node positions and edge polylines, left to right.

import dagre from "@dagrejs/dagre";

import { NODE_HEIGHT, NODE_WIDTH } from "./nodesize";

export interface LayoutRequest {
  key: string;
  nodes: { id: string }[];
  edges: [string, string][];
}

export interface Layout {
  key: string;
  width: number;
  height: number;
  nodes: Record<string, { x: number; y: number }>;
  edges: { from: string; to: string; points: { x: number; y: number }[] }[];
}


export function layoutGraph(request: LayoutRequest): Layout {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 48, marginx: 12, marginy: 12 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of request.nodes) graph.setNode(node.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const [from, to] of request.edges) if (graph.hasNode(from) && graph.hasNode(to)) graph.setEdge(from, to);
  dagre.layout(graph);
  const nodes: Layout["nodes"] = {};
  for (const id of graph.nodes()) {
    const node = graph.node(id) as { x: number; y: number };
    nodes[id] = { x: node.x, y: node.y };
  }
  const edges = graph.edges().map((edge) => ({
    from: edge.v,
    to: edge.w,
    points: (graph.edge(edge) as { points?: { x: number; y: number }[] }).points ?? [],
  }));
  const meta = graph.graph() as { width?: number; height?: number };
  return { key: request.key, width: meta.width ?? 0, height: meta.height ?? 0, nodes, edges };
}
