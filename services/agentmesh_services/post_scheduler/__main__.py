from agentmesh_services.post_scheduler import agent

agent.run()
