from services.trend_scanner import agent

agent.run()
