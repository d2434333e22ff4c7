from agentmesh_services.writer import agent

agent.run()
