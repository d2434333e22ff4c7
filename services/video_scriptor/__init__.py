from services.video_scriptor.agent import agent

__all__ = ["agent"]
