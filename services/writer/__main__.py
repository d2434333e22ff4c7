from services.writer import agent

agent.run()
