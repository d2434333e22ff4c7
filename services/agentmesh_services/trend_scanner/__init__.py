from agentmesh_services.trend_scanner.agent import agent

__all__ = ["agent"]
