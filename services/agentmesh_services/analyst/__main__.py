from agentmesh_services.analyst import agent

agent.run()
