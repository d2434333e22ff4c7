from services.post_scheduler.agent import agent

__all__ = ["agent"]
