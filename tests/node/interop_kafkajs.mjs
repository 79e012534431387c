// Interop check: kafkajs against a kmock broker.
//
// Usage: node interop_kafkajs.mjs BOOTSTRAP
//
// Produces 100 messages to a new (auto-created) topic, consumes them back as the only member of a
// new group from the earliest offset, commits, checks the committed offset via the admin API, and
// disconnects cleanly. Exit 0 on success; nonzero with a message on stderr on failure. Bounded by
// OVERALL_TIMEOUT_MS.

import { randomUUID } from "node:crypto";
import kafkajs from "kafkajs";

const { Kafka, logLevel, Partitioners } = kafkajs;

const MESSAGE_COUNT = 100;
const OVERALL_TIMEOUT_MS = 60_000;
const CONSUME_TIMEOUT_MS = 30_000;

const log = (message) => console.log(`[interop_kafkajs] ${message}`);

async function run(bootstrap) {
  const suffix = randomUUID().replaceAll("-", "").slice(0, 12);
  const topic = `interop-kafkajs-${suffix}`;
  const group = `interop-kafkajs-group-${suffix}`;
  const expected = Array.from({ length: MESSAGE_COUNT }, (_, i) => `message-${i}`);

  const kafka = new Kafka({
    clientId: "interop-kafkajs",
    brokers: [bootstrap],
    logLevel: logLevel.WARN,
    retry: { retries: 5 },
  });

  const producer = kafka.producer({
    allowAutoTopicCreation: true,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    for (const value of expected) {
      await producer.send({ topic, acks: -1, messages: [{ value }] });
    }
  } finally {
    await producer.disconnect();
  }
  log(`produced ${MESSAGE_COUNT} messages to ${topic}`);

  // A short long-poll: disconnect() waits for the fetch in flight, up to maxWaitTimeInMs.
  const consumer = kafka.consumer({
    groupId: group,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 500,
  });
  const received = [];
  let consumed;
  const allConsumed = new Promise((resolve) => {
    consumed = resolve;
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        received.push(message.value.toString());
        if (received.length >= MESSAGE_COUNT) consumed();
      },
    });
    let timer;
    const timedOut = new Promise((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `consumed ${received.length} of ${MESSAGE_COUNT} messages within ${CONSUME_TIMEOUT_MS} ms`,
            ),
          ),
        CONSUME_TIMEOUT_MS,
      );
    });
    await Promise.race([allConsumed, timedOut]).finally(() => clearTimeout(timer));
    const sorted = (values) => [...values].sort();
    if (
      received.length !== MESSAGE_COUNT ||
      JSON.stringify(sorted(received)) !== JSON.stringify(sorted(expected))
    ) {
      throw new Error(`values differ: got ${received.length}, first ${received.slice(0, 3)}`);
    }
    log(`consumed ${received.length} messages as a member of ${group}`);

    // One partition per auto-created topic by default; commit the end of every partition consumed.
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(topic);
      await consumer.commitOffsets(
        ends.map(({ partition, high }) => ({ topic, partition, offset: high })),
      );
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      let total = 0;
      for (const { partition, offset } of committed.partitions) {
        log(`committed offset of ${topic}-${partition}: ${offset}`);
        total += Math.max(Number(offset), 0);
      }
      if (total !== MESSAGE_COUNT) {
        throw new Error(`committed offsets add up to ${total}, want ${MESSAGE_COUNT}`);
      }
    } finally {
      await admin.disconnect();
    }
  } finally {
    await consumer.disconnect();
  }
  log("closed cleanly");
}

const bootstrap = process.argv[2];
if (!bootstrap || process.argv.length !== 3) {
  console.error("usage: node interop_kafkajs.mjs BOOTSTRAP");
  process.exit(2);
}
const watchdog = setTimeout(() => {
  console.error(`[interop_kafkajs] FAILED: not done within ${OVERALL_TIMEOUT_MS} ms`);
  process.exit(1);
}, OVERALL_TIMEOUT_MS);
try {
  await run(bootstrap);
  clearTimeout(watchdog);
  log("OK");
  process.exit(0);
} catch (error) {
  console.error(error);
  console.error(`[interop_kafkajs] FAILED: ${error?.name}: ${error?.message}`);
  process.exit(1);
}
