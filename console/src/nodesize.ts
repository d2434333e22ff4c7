// The size of a DAG node, shared by the layout (in the worker) and the drawing (on the page).
export const NODE_WIDTH = 188;
export const NODE_HEIGHT = 62;
