from services.post_scheduler import agent

agent.run()
