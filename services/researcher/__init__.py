from services.researcher.agent import agent

__all__ = ["agent"]
