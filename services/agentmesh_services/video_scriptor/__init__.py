from agentmesh_services.video_scriptor.agent import agent

__all__ = ["agent"]
