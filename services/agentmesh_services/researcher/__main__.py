from agentmesh_services.researcher import agent

agent.run()
