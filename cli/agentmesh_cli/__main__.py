from agentmesh_cli import main

main()
