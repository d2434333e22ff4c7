from agentmesh_services.writer.agent import agent

__all__ = ["agent"]
