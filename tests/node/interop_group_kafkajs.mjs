// Deeper interop for kafkajs: the scenario of tests/python/interop_group.py (read its docstring)
// against `kmock serve --default-partitions 6 --initial-rebalance-delay-ms 0`:
//  1. three members of one group on the new topic: every partition assigned exactly once
//     (GROUP_JOIN events), before any record exists;
//  2. 60 keyed records with a header, half gzip, half snappy (kafkajs-snappy), each on the
//     partition of kafkajs's own DefaultPartitioner, which must equal Java's murmur2 formula;
//  3. all 60 consumed on their murmur2 partitions, values and headers intact, committed;
//  4. one member leaves: the other two own all 6 partitions, once each;
//  5. all leave; 6 more records; a new member resumes at the commits: exactly the 6 new ones.
//
// Usage: node interop_group_kafkajs.mjs BOOTSTRAP. Exit 0 on success; nonzero with a message.

import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";
import kafkajs from "kafkajs";
import SnappyCodec from "kafkajs-snappy";

const require = createRequire(import.meta.url);
// kafkajs's own murmur2 (the one its DefaultPartitioner hashes keys with).
const kafkajsMurmur2 = require("kafkajs/src/producer/partitioners/default/murmur2.js");

const { Kafka, logLevel, Partitioners, CompressionTypes, CompressionCodecs } = kafkajs;
CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec;

const PARTITIONS = 6;
const RECORDS = 60;
const STEP_TIMEOUT_MS = 30_000;
const OVERALL_TIMEOUT_MS = 120_000;

const log = (message) => console.log(`[interop_group_kafkajs] ${message}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const check = (condition, message) => {
  if (!condition) throw new Error(message);
};

// org.apache.kafka.common.utils.Utils.murmur2, written out independently of kafkajs.
function javaMurmur2(data) {
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ data.length) >>> 0;
  const length4 = data.length >> 2;
  for (let i = 0; i < length4; i++) {
    let k = data.readUInt32LE(4 * i);
    k = Math.imul(k, m) >>> 0;
    k = (k ^ (k >>> 24)) >>> 0;
    k = Math.imul(k, m) >>> 0;
    h = Math.imul(h, m) >>> 0;
    h = (h ^ k) >>> 0;
  }
  const tail = length4 * 4;
  switch (data.length & 3) {
    case 3:
      h = (h ^ (data[tail + 2] << 16)) >>> 0;
    // falls through
    case 2:
      h = (h ^ (data[tail + 1] << 8)) >>> 0;
    // falls through
    case 1:
      h = (h ^ data[tail]) >>> 0;
      h = Math.imul(h, m) >>> 0;
  }
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, m) >>> 0;
  h = (h ^ (h >>> 15)) >>> 0;
  return h | 0;
}

const murmur2Partition = (key) => (javaMurmur2(Buffer.from(key)) & 0x7fffffff) % PARTITIONS;
const ownPartition = (key) => (kafkajsMurmur2(Buffer.from(key)) & 0x7fffffff) % PARTITIONS;

const records = (count, first = 0) =>
  Array.from({ length: count }, (_, j) => {
    const i = first + j;
    return { key: `key-${i}`, value: `value-${i}`, headers: { index: `${i}` } };
  });

async function waitFor(probe, what) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== null) return value;
    await sleep(50);
  }
  throw new Error(`${what}: not within ${STEP_TIMEOUT_MS} ms`);
}

function checkAssignment(assignments, what) {
  const owned = assignments.flat().sort((a, b) => a - b);
  check(
    JSON.stringify(owned) === JSON.stringify([...Array(PARTITIONS).keys()]),
    `${what}: every partition must be assigned exactly once, got ${JSON.stringify(assignments)}`,
  );
}

function checkRecords(got, expected, what) {
  const byKey = new Map(expected.map((r) => [r.key, r]));
  const seen = new Set();
  for (const { partition, key, value, headers } of got) {
    check(byKey.has(key), `${what}: unexpected record ${key}`);
    check(!seen.has(key), `${what}: ${key} delivered twice`);
    seen.add(key);
    const want = byKey.get(key);
    check(value === want.value, `${what}: ${key} value ${value}, want ${want.value}`);
    check(headers.index === want.headers.index, `${what}: ${key} headers ${JSON.stringify(headers)}`);
    check(partition === murmur2Partition(key), `${what}: ${key} on partition ${partition}, murmur2 says ${murmur2Partition(key)}`);
  }
  check(seen.size === byKey.size, `${what}: consumed ${seen.size} of ${byKey.size} records`);
}

/** A group member: its latest assignment (GROUP_JOIN) and what it consumed. */
async function member(kafka, topic, group, name, sink) {
  const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 });
  const state = { consumer, assignment: null, name };
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    state.assignment = [...(payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b);
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: true,
    eachMessage: async ({ partition, message }) => {
      sink.push({
        partition,
        key: message.key.toString(),
        value: message.value.toString(),
        headers: Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, v.toString()])),
      });
    },
  });
  return state;
}

async function consumeInto(sink, count, what) {
  await waitFor(() => (sink.length >= count ? true : null), `${what}: ${count} records`);
}

async function run(bootstrap) {
  const suffix = randomUUID().replaceAll("-", "").slice(0, 10);
  const topic = `interop-group-kafkajs-${suffix}`;
  const group = `interop-group-kafkajs-${suffix}`;
  const kafka = new Kafka({ clientId: "interop-group-kafkajs", brokers: [bootstrap], logLevel: logLevel.WARN });

  // The group settles before any record exists (see interop_group.py: a member that joined
  // alone first would read records the rebalance then hands to another member).
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  await admin.disconnect();
  const sink = [];
  const members = [];
  for (let i = 0; i < 3; i++) members.push(await member(kafka, topic, group, `member-${i}`, sink));
  const settled = (count) => () => {
    const assignments = members.map((m) => m.assignment);
    if (members.length !== count || assignments.some((a) => a === null)) return null;
    const owned = assignments.flat().sort((a, b) => a - b);
    return JSON.stringify(owned) === JSON.stringify([...Array(PARTITIONS).keys()]) ? assignments : null;
  };
  let assignments = await waitFor(settled(3), "three members assigned");
  checkAssignment(assignments, "three members");
  log(`three members, assignment ${JSON.stringify(assignments)}`);

  const producer = kafka.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const first = records(RECORDS);
  for (const [i, record] of first.entries()) {
    check(ownPartition(record.key) === murmur2Partition(record.key), `kafkajs's murmur2 and Java's differ for ${record.key}`);
    const [written] = await producer.send({
      topic,
      acks: -1,
      compression: i % 2 === 0 ? CompressionTypes.GZIP : CompressionTypes.Snappy,
      messages: [record],
    });
    check(written.partition === murmur2Partition(record.key), `${record.key} produced to ${written.partition}, murmur2 says ${murmur2Partition(record.key)}`);
  }
  log(`produced ${RECORDS} keyed records (gzip and snappy, with headers) to ${topic}, each on its murmur2 partition`);

  await consumeInto(sink, RECORDS, "three members");
  checkRecords(sink, first, "three members");
  log(`consumed all ${RECORDS} records on their murmur2 partitions with headers intact`);

  const leaving = members.pop();
  for (const m of members) m.assignment = null;
  await leaving.consumer.disconnect();
  assignments = await waitFor(settled(2), "two members after one left");
  checkAssignment(assignments, "two members after one left");
  log(`one member left: the two others own ${JSON.stringify(assignments)}`);
  // autoCommit commits after each batch; disconnect() waits for the batch in flight.
  for (const m of members) await m.consumer.disconnect();

  const more = records(PARTITIONS, RECORDS);
  await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages: more });
  await producer.disconnect();
  const late = [];
  const newcomer = await member(kafka, topic, group, "member-new", late);
  await consumeInto(late, more.length, "a new member");
  await sleep(1_000); // nothing committed may come back
  checkRecords(late, more, "a new member");
  await newcomer.consumer.disconnect();
  log("a new member resumed at the committed offsets: exactly the 6 new records");
}

const bootstrap = process.argv[2];
if (!bootstrap || process.argv.length !== 3) {
  console.error("usage: node interop_group_kafkajs.mjs BOOTSTRAP");
  process.exit(2);
}
const watchdog = setTimeout(() => {
  console.error(`[interop_group_kafkajs] FAILED: not done within ${OVERALL_TIMEOUT_MS} ms`);
  process.exit(1);
}, OVERALL_TIMEOUT_MS);
try {
  await run(bootstrap);
  clearTimeout(watchdog);
  log("OK");
  process.exit(0);
} catch (error) {
  console.error(error);
  console.error(`[interop_group_kafkajs] FAILED: ${error?.name}: ${error?.message}`);
  process.exit(1);
}
