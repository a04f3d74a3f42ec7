// A committee's own system receiving sotay's events, in JavaScript (nats.js).
//
// It reads the committee's member and content events through the durable consumers sotay made
// for it (`district-<code>` on SOTAY_MEMBERS and SOTAY_CONTENT: `sotay migrate` with
// SOTAY_DISTRICT_CONSUMERS=<code>; the server keeps where it stopped), as the NATS user
// `district-<code>`, which may read that committee's events and nothing else. An event is applied
// once: its id is written down (SEEN_FILE) with what is done with it (EVENTS_FILE), then the
// message acknowledged; one delivered again is acknowledged and skipped.
//
//   npm install && SOTAY_COMMITTEE=ba-dinh NATS_PASSWORD=… node subscriber.mjs
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { connect } from "nats";

const committee = process.env.SOTAY_COMMITTEE || "ba-dinh";
const user = process.env.NATS_USER || `district-${committee}`;
const seenFile = process.env.SEEN_FILE || "seen.txt";
const eventsFile = process.env.EVENTS_FILE || "events.jsonl";
const streams = ["SOTAY_MEMBERS", "SOTAY_CONTENT"]; // SOTAY_IDENTITY and SOTAY_METRICS work the same way

const seen = new Set(existsSync(seenFile) ? readFileSync(seenFile, "utf8").split("\n").filter(Boolean) : []);

// Your system's work. `event` is a CloudEvent: `type` (sotay.content.ArticlePublished.v1 ...),
// `subject` (the aggregate's id), `orgunit`, `sequence` (the aggregate's version as 20 digits:
// compare strings to drop stale updates) and `data` (/api/<service>/v1/asyncapi describes it).
function handle(subject, event) {
  appendFileSync(eventsFile, JSON.stringify({ subject, id: event.id, type: event.type, sequence: event.sequence }) + "\n");
}

const nc = await connect({
  servers: (process.env.NATS_URL || "nats://127.0.0.1:4222").split(","),
  user, pass: process.env.NATS_PASSWORD || "",
  inboxPrefix: `_INBOX_${user}`, // the only subjects this user may receive replies on
  name: `district-subscriber-${committee}`,
  maxReconnectAttempts: -1,
});
const js = nc.jetstream();

async function consume(stream) {
  const consumer = await js.consumers.get(stream, `district-${committee}`);
  // Pull requests of 10 s: a consumer made anew (by an operator) is found again within seconds.
  const messages = await consumer.consume({ max_messages: 100, expires: 10_000 });
  for await (const m of messages) {
    let event;
    try {
      event = m.json();
      if (typeof event?.id !== "string" || typeof event?.type !== "string") throw new Error("not an event");
    } catch {
      console.error(`not an event, left aside: ${m.subject}`);
      m.term(); // it will not get better: never delivered again
      continue;
    }
    if (seen.has(event.id)) {
      console.log(`already applied ${event.type} ${event.id}`);
    } else {
      try {
        handle(m.subject, event);
        appendFileSync(seenFile, event.id + "\n");
        seen.add(event.id);
      } catch (e) {
        console.error(`event ${event.id} not applied (${e}); it comes again in 10 s`);
        m.nak(10_000);
        continue;
      }
      console.log(`applied ${event.type} ${event.id}`);
    }
    await m.ackAck(); // only once applied; a crash before this delivers it again, and it is skipped
  }
}

// Until stopped: a consumer not there yet, or gone and made again, is asked for again in 2 s.
async function consumeForever(stream) {
  while (!nc.isClosed() && !nc.isDraining()) {
    try {
      await consume(stream);
    } catch (e) {
      console.error(`${stream}: ${e.message}; again in 2 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

console.log(`receiving the events of ${committee} from ${streams.join(", ")}`);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => nc.drain());
await Promise.all([...streams.map(consumeForever), nc.closed()]);
