from services.critic import agent

agent.run()
