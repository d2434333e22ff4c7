import { main } from "@agentmesh/kit";

import { agent } from "./agent.js";

main(agent);
