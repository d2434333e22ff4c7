// The DAG's layout (dagre), off the page's main thread: a 1,000-step workflow's layout takes
// longer than a frame, and the run page paints its header, steps and log meanwhile.

import { layoutGraph, type LayoutRequest } from "./layout-core";

self.onmessage = (event: MessageEvent<LayoutRequest>) => {
  self.postMessage(layoutGraph(event.data));
};
