from agentmesh_services.trend_scanner import agent

agent.run()
