from services.analyst.agent import agent

__all__ = ["agent"]
