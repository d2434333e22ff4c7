"""The agentmesh gateway: durable DAG workflows over agents, with resumable event streams."""
