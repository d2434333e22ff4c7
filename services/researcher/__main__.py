from services.researcher import agent

agent.run()
