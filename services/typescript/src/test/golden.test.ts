// testdata/*.jsonl hold what the Python video scriptor and post scheduler answered offline
// before they moved to TypeScript: the same input must still give the same reply, text and data.
import { invokeSkill } from "@agentmesh/kit";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { agent as postScheduler } from "../post_scheduler/agent.js";
import { agent as videoScriptor } from "../video_scriptor/agent.js";

interface Golden {
  input: Record<string, unknown>;
  text: string;
  data: Record<string, unknown>;
}

function goldens(name: string): Golden[] {
  const path = new URL(`../../testdata/${name}.jsonl`, import.meta.url);
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Golden);
}

for (const [agent, skill] of [
  [videoScriptor, "script"],
  [postScheduler, "schedule"],
] as const) {
  void test(`${agent.name} answers as the Python agent did`, async () => {
    const cases = goldens(agent.name);
    assert.ok(cases.length >= 4);
    for (const golden of cases) {
      const result = await invokeSkill(agent, skill, golden.input);
      assert.deepEqual(result.data, golden.data, JSON.stringify(golden.input));
      assert.equal(result.text, golden.text);
    }
  });
}
