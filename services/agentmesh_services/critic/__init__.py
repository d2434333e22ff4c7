from agentmesh_services.critic.agent import agent

__all__ = ["agent"]
