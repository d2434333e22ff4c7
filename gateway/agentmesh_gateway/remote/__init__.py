"""Remote agents: A2A 1.0 agents a workflow step may call like the mesh's own.

`endpoint` is how the mesh file names one (light: the configuration imports it); `agent` reaches
one (its card, its health) with a2a-sdk's client; `task` is one call's exchange with a task
there; `convert` maps between the two
worlds' messages and cards.
"""
