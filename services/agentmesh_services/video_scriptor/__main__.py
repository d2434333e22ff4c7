from agentmesh_services.video_scriptor import agent

agent.run()
