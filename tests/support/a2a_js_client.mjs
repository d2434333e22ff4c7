// A2A client from @a2a-js/sdk (the A2A project's own JS SDK): sends a message, streams another,
// and cancels a third, against the agent whose card is at the URL given; prints what it saw as
// one JSON object.
import { ClientFactory, ClientFactoryOptions } from "@a2a-js/sdk/client";

const [url, binding] = process.argv.slice(2);
const preferred = binding === "REST" ? ["HTTP+JSON"] : ["JSONRPC"];
const factory = new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { preferredTransports: preferred }));
const client = await factory.createFromUrl(`${url}/.well-known/agent-card.json`, "");

function message(data, skill) {
  return {
    messageId: `js-${Math.random().toString(16).slice(2)}`,
    contextId: "",
    taskId: "",
    role: 1, // ROLE_USER
    parts: [{ content: { $case: "data", value: data }, metadata: undefined, filename: "", mediaType: "" }],
    metadata: { skill },
    extensions: [],
    referenceTaskIds: [],
  };
}

function request(msg, returnImmediately = false) {
  return {
    tenant: "",
    message: msg,
    configuration: { acceptedOutputModes: [], taskPushNotificationConfig: undefined, historyLength: undefined, returnImmediately },
    metadata: undefined,
  };
}

const sent = await client.sendMessage(request(message({ key: "js-send", value: 1 }, "echo")));
const task = sent.payload?.value ?? sent;

const streamed = [];
for await (const event of client.sendMessageStream(request(message({ key: "js-stream", value: 2 }, "echo")))) {
  const kind = event.payload?.$case;
  streamed.push({ kind, state: kind === "statusUpdate" ? event.payload.value.status?.state : kind === "task" ? event.payload.value.status?.state : undefined });
}

const slow = await client.sendMessage(request(message({ key: "js-cancel", ms: 30000 }, "echo"), true));
const slowTask = slow.payload?.value ?? slow;
const cancelled = await client.cancelTask({ tenant: "", id: slowTask.id, metadata: undefined });

console.log(JSON.stringify({ sent: { id: task.id, state: task.status?.state }, streamed, cancelled: { id: cancelled.id, state: cancelled.status?.state } }));
