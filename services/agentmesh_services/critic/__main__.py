from agentmesh_services.critic import agent

agent.run()
