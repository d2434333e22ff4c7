from agentmesh_services.post_scheduler.agent import agent

__all__ = ["agent"]
