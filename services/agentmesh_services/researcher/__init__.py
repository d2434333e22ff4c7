from agentmesh_services.researcher.agent import agent

__all__ = ["agent"]
