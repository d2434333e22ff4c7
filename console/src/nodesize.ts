// The size of a DAG node, shared by the layout (in the worker) and the drawing (on the page).
export const NODE_WIDTH = 176;
export const NODE_HEIGHT = 50;
