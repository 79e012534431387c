// The real-client teardown matrix for kafkajs: how long consumer.disconnect() takes when the
// coordinator misbehaves on one request. The case format, steps and output are those of
// tests/python/teardown_matrix.py (read its docstring); driven by tests/tests/teardown_matrix.rs.
//
// Usage: node teardown_kafkajs.mjs BOOTSTRAP CONTROL_URL CASES_JSON
//
// kafkajs knobs: requestTimeout (per request, enforced), sessionTimeout, heartbeatInterval, and its
// retry policy (default: 5 retries, exponential backoff from 300 ms), left at its defaults as a
// user gets them. With autoCommit, kafkajs commits after every batch it processed (not on stop);
// autoCommitInterval is set high so no timer-driven commit lands in the middle of a stop.

import { readFileSync } from "node:fs";
import kafkajs from "kafkajs";

const { Kafka, logLevel } = kafkajs;

const AWAIT_FAULT_TIMEOUT_MS = 10_000;

const log = (message) => console.error(`[teardown_kafkajs] ${message}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Control {
  constructor(url) {
    this.url = url.replace(/\/$/, "");
  }
  async call(method, path, body) {
    const response = await fetch(this.url + path, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
    });
    const text = await response.text();
    if (!response.ok && !(method === "DELETE" && response.status === 404)) {
      throw new Error(`${method} ${path}: ${response.status} ${text}`);
    }
    return text ? JSON.parse(text) : null;
  }
  async addFault(spec) {
    return (await this.call("POST", "/faults", { spec })).id;
  }
  async removeFault(id) {
    await this.call("DELETE", `/faults/${id}`);
  }
  async nextSeq() {
    return (await this.call("GET", "/requests?limit=0")).next;
  }
  async requests(clientId, since, api) {
    let path = `/requests?since=${since}&client_id=${encodeURIComponent(clientId)}&limit=100000`;
    if (api) path += `&api=${api}`;
    return (await this.call("GET", path)).requests;
  }
  async members(group) {
    const response = await fetch(`${this.url}/groups/${encodeURIComponent(group)}`);
    if (response.status === 404) return 0;
    return (await response.json()).members.length;
  }
}

const describe = (error) => `raised ${error?.name ?? "Error"}: ${String(error?.message ?? error).slice(0, 200)}`;

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not done within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function waitForFault(control, testCase, since) {
  const deadline = Date.now() + AWAIT_FAULT_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const entries = await control.requests(testCase.client_id, since, testCase.await_api);
    if (entries.some((entry) => entry.fault)) return true;
    await sleep(50);
  }
  return false;
}

async function waitForCommit(control, testCase) {
  const deadline = Date.now() + AWAIT_FAULT_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if ((await control.requests(testCase.client_id, 0, "offset_commit")).length > 0) return true;
    await sleep(50);
  }
  return false;
}

async function summarize(control, testCase, since) {
  const skipped = new Set(["Fetch", "Metadata", "ApiVersions", "ListOffsets"]);
  return (await control.requests(testCase.client_id, since))
    .filter((entry) => !skipped.has(entry.api))
    .map((entry) => [entry.api, entry.fault, entry.outcome]);
}

const SETUP_ATTEMPT_TIMEOUT_MS = 20_000;
const SETUP_ATTEMPTS = 2;

// The case as set up on attempt `attempt` (0-based): a fresh group and client id on a retry.
function attemptCase(testCase, attempt) {
  const suffix = attempt === 0 ? "" : `-retry${attempt}`;
  const group = testCase.group + suffix;
  return {
    ...testCase,
    group,
    client_id: testCase.client_id + suffix,
    faults: testCase.faults.map((spec) => spec.replaceAll("{group}", group)),
  };
}

async function setUp(bootstrap, spec, testCase) {
  const timeouts = spec.timeouts;
  const kafka = new Kafka({
    clientId: testCase.client_id,
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    requestTimeout: timeouts.request_timeout_ms,
  });
  const consumer = kafka.consumer({
    groupId: testCase.group,
    sessionTimeout: timeouts.session_timeout_ms,
    heartbeatInterval: timeouts.heartbeat_interval_ms,
    maxWaitTimeInMs: 100,
    allowAutoTopicCreation: false,
  });
  let consumed;
  const first = new Promise((resolve) => {
    consumed = resolve;
  });
  try {
    await withTimeout(
      (async () => {
        await consumer.connect();
        await consumer.subscribe({ topics: [spec.topic], fromBeginning: true });
        await consumer.run({
          autoCommit: testCase.auto_commit,
          autoCommitInterval: 600_000,
          eachMessage: async () => consumed(),
        });
        await first;
      })(),
      SETUP_ATTEMPT_TIMEOUT_MS,
      "setup",
    );
  } catch (error) {
    consumer.disconnect().catch(() => {}); // abandoned
    throw error;
  }
  return consumer;
}

async function runCase(bootstrap, control, spec, originalCase) {
  const result = { id: originalCase.id, stop_ms: null, awaited: null, requests: [], members_after: null };
  let consumer = null;
  let testCase = originalCase;
  for (let attempt = 0; attempt < SETUP_ATTEMPTS && consumer === null; attempt++) {
    result.setup_attempts = attempt + 1;
    testCase = attemptCase(originalCase, attempt);
    try {
      consumer = await setUp(bootstrap, spec, testCase);
    } catch (error) {
      result.outcome = "setup failed: " + describe(error);
    }
  }
  if (consumer === null) return result;
  // With autoCommit, kafkajs commits once the batch holding the record is processed: let that
  // commit happen before the fault, so the stop never races it.
  if (testCase.auto_commit) result.committed_before = await waitForCommit(control, testCase);
  let since = await control.nextSeq();
  const faultIds = [];
  for (const fault of testCase.faults) faultIds.push(await control.addFault(fault));
  if (testCase.await_api) result.awaited = await waitForFault(control, testCase, since);
  since = await control.nextSeq();
  const started = performance.now();
  let finished = false;
  const stop = consumer.disconnect().then(
    () => "returned",
    (error) => describe(error),
  );
  const outcome = await Promise.race([stop, sleep(spec.cap_ms).then(() => null)]);
  if (outcome !== null) {
    finished = true;
    result.stop_ms = Math.round((performance.now() - started) * 10) / 10;
    result.outcome = outcome;
  }
  if (!finished) result.outcome = "running at cap";
  result.requests = await summarize(control, testCase, since);
  result.members_after = await control.members(testCase.group);
  for (const id of faultIds) await control.removeFault(id);
  return result;
}

async function main() {
  if (process.argv.length !== 5) {
    console.error("usage: node teardown_kafkajs.mjs BOOTSTRAP CONTROL_URL CASES_JSON");
    process.exit(2);
  }
  const [bootstrap, controlUrl, casesPath] = process.argv.slice(2);
  const spec = JSON.parse(readFileSync(casesPath, "utf8"));
  const control = new Control(controlUrl);
  const started = performance.now();

  const kafka = new Kafka({ clientId: "teardown-producer", brokers: [bootstrap], logLevel: logLevel.WARN });
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  await producer.send({ topic: spec.topic, acks: -1, messages: [{ value: "teardown" }] });
  await producer.disconnect();

  const results = await Promise.all(spec.cases.map((testCase) => runCase(bootstrap, control, spec, testCase)));
  for (const result of results) console.log("RESULT " + JSON.stringify(result));
  if (unhandled.length) log(`unhandled rejections inside kafkajs: ${unhandled.length}: ${unhandled.slice(0, 3).join(" | ")}`);
  log(`kafkajs: ${results.length} cases in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  // Disconnects still running at the cap keep timers alive.
  process.exit(0);
}

// kafkajs 2.2.4 lets some errors of a failing LeaveGroup escape as unhandled rejections (they would
// end the process): count them, report them with the results.
const unhandled = [];
process.on("unhandledRejection", (error) => {
  unhandled.push(describe(error));
});

const watchdog = setTimeout(() => {
  console.error("[teardown_kafkajs] FAILED: not done within the overall budget");
  process.exit(1);
}, SETUP_ATTEMPTS * SETUP_ATTEMPT_TIMEOUT_MS + AWAIT_FAULT_TIMEOUT_MS + 200_000);
watchdog.unref();
main().catch((error) => {
  console.error(error);
  console.error(`[teardown_kafkajs] FAILED: ${error?.name}: ${error?.message}`);
  process.exit(1);
});
