from services.video_scriptor import agent

agent.run()
