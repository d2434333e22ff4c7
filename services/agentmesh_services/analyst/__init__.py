from agentmesh_services.analyst.agent import agent

__all__ = ["agent"]
