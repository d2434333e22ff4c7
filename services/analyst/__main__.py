from services.analyst import agent

agent.run()
