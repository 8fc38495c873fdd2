// The reference JavaScript client under benchmark: the official
// socket.io-client 4.8 (the engine under @symbia/messaging-client), running
// the workloads of bench/internal/load and printing the same JSON result.
//
//   node --expose-gc bench/jsclient.js -url http://127.0.0.1:PORT -workload seq|inflight|fanout|idle
//        [-n N] [-warmup N] [-inflight K] [-receivers R] [-timeout 120s] [-settle 1s]
//
// Each message is what @symbia/messaging-client's socket.sendMessage sends:
// emitWithAck("message:send", {conversationId, id, content}) with a fresh
// UUID, resolved when the ack says success.
"use strict";

const path = require("path");
const crypto = require("crypto");
const modules = path.join(__dirname, "..", "testdata", "conformance", "node_modules");
const { io } = require(path.join(modules, "socket.io-client"));

// Keep in step with bench/internal/load.
const CONVERSATION = "e0eed82d-ec4f-4818-9be1-9f1402a7f089";
const FANOUT_CONVERSATION = "67ad9574-01de-49ff-b691-7755449bef84";
const CONTENT = "Hello from the benchmark: a chat message of ordinary length, about one hundred bytes.";
const TOKEN = "bench-token";

function flags(argv) {
  const cfg = { url: "http://127.0.0.1:3000", workload: "seq", n: 0, warmup: 500, inflight: 50, receivers: 20, timeout: 120, settle: 1 };
  for (let i = 0; i < argv.length; i++) {
    let [key, v] = argv[i].replace(/^-+/, "").split("=", 2);
    if (v === undefined) v = argv[++i];
    if (!(key in cfg)) throw new Error(`unknown flag -${key}`);
    if (key === "timeout" || key === "settle") {
      // A Go duration, as the Go clients take it: "90s", "2m", "3m0s".
      const parts = [...String(v).matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)];
      if (parts.length === 0) throw new Error(`bad -${key} ${v}`);
      cfg[key] = parts.reduce((t, [, n, u]) => t + parseFloat(n) * { h: 3600, m: 60, s: 1, ms: 0.001 }[u], 0);
    } else cfg[key] = typeof cfg[key] === "number" ? Number(v) : v;
  }
  const defaults = { seq: 5000, inflight: 30000, fanout: 3000, idle: 1000 };
  if (!cfg.n) cfg.n = defaults[cfg.workload];
  return cfg;
}

function dial(url, conversation, onMessage) {
  return new Promise((resolve, reject) => {
    const s = io(url, { transports: ["websocket"], auth: { token: TOKEN }, forceNew: true, reconnection: true });
    if (onMessage) s.on("message:new", onMessage);
    s.once("connect", () => {
      s.off("connect_error", fail);
      resolve({
        socket: s,
        async send() {
          const r = await s.emitWithAck("message:send", { conversationId: conversation, id: crypto.randomUUID(), content: CONTENT });
          if (!r || !r.success || !r.message) throw new Error("refused: " + JSON.stringify(r));
        },
        async join(conv) {
          const r = await s.emitWithAck("join:conversation", conv);
          if (!r || !r.success) throw new Error("join refused");
        },
        close() {
          s.disconnect();
        },
      });
    });
    function fail(err) {
      s.close();
      reject(err);
    }
    s.once("connect_error", fail);
  });
}

const now = () => process.hrtime.bigint();
const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system; // microseconds, every thread of the process
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted, q) {
  if (sorted.length === 0) return 0;
  let i = Math.round(q * sorted.length) - 1;
  i = Math.max(0, Math.min(i, sorted.length - 1));
  return sorted[i];
}

function acked(n, wallNs, cpuUs, lat) {
  const s = Float64Array.from(lat).sort();
  const secs = Number(wallNs) / 1e9;
  return { n, seconds: secs, rate: n / secs, p50_us: percentile(s, 0.5), p99_us: percentile(s, 0.99), cpu_us_per_msg: cpuUs / n };
}

async function pipeline(c, n, k, lat) {
  let next = 0;
  async function worker() {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const t = now();
      await c.send();
      if (lat) lat[i] = Number(now() - t) / 1e3;
    }
  }
  const ws = [];
  for (let i = 0; i < Math.min(k, n); i++) ws.push(worker());
  await Promise.all(ws);
}

function gc() {
  if (global.gc) {
    global.gc();
    global.gc();
  }
}

async function seq(cfg) {
  const c = await dial(cfg.url, CONVERSATION);
  for (let i = 0; i < cfg.warmup; i++) await c.send();
  const lat = new Array(cfg.n);
  gc();
  const c0 = cpu(), t0 = now();
  for (let i = 0; i < cfg.n; i++) {
    const t = now();
    await c.send();
    lat[i] = Number(now() - t) / 1e3;
  }
  const r = acked(cfg.n, now() - t0, cpu() - c0, lat);
  c.close();
  return r;
}

async function inflight(cfg) {
  const c = await dial(cfg.url, CONVERSATION);
  await pipeline(c, cfg.warmup, cfg.inflight);
  const lat = new Array(cfg.n);
  gc();
  const c0 = cpu(), t0 = now();
  await pipeline(c, cfg.n, cfg.inflight, lat);
  const r = acked(cfg.n, now() - t0, cpu() - c0, lat);
  c.close();
  return r;
}

async function fanout(cfg) {
  const want = cfg.warmup + cfg.n;
  const counts = new Array(cfg.receivers).fill(0);
  let total = 0, complete = 0, onComplete = null;
  const conns = [];
  for (let i = 0; i < cfg.receivers; i++) {
    const c = await dial(cfg.url, FANOUT_CONVERSATION, () => {
      total++;
      if (++counts[i] === want) {
        complete++;
        if (complete === cfg.receivers && onComplete) onComplete();
      }
    });
    await c.join(FANOUT_CONVERSATION);
    conns.push(c);
  }
  const sender = await dial(cfg.url, FANOUT_CONVERSATION);
  conns.push(sender);
  await pipeline(sender, cfg.warmup, cfg.inflight);
  while (total < cfg.receivers * cfg.warmup) await sleep(1);
  gc();
  const c0 = cpu(), t0 = now();
  const allDone = new Promise((r) => {
    onComplete = r;
    if (complete === cfg.receivers) r();
  });
  await pipeline(sender, cfg.n, cfg.inflight);
  await allDone;
  const wall = now() - t0, used = cpu() - c0;
  await sleep(50);
  counts.forEach((got, i) => {
    if (got !== want) throw new Error(`receiver ${i} got ${got} messages, want ${want}`);
  });
  conns.forEach((c) => c.close());
  const secs = Number(wall) / 1e9;
  return {
    n: cfg.n,
    seconds: secs,
    rate: cfg.n / secs,
    cpu_us_per_msg: used / cfg.n,
    extra: { receivers: cfg.receivers, deliveries_per_s: (cfg.n * cfg.receivers) / secs, cpu_us_per_delivery: used / (cfg.n * cfg.receivers) },
  };
}

async function idle(cfg) {
  const conns = [];
  const warm = await dial(cfg.url, CONVERSATION);
  conns.push(warm);
  await warm.send();
  await sleep((cfg.settle * 1000) / 5);
  gc();
  const m0 = process.memoryUsage();
  let next = 0;
  async function worker() {
    for (;;) {
      const i = next++;
      if (i >= cfg.n) return;
      conns.push(await dial(cfg.url, CONVERSATION));
    }
  }
  const ws = [];
  for (let i = 0; i < 10; i++) ws.push(worker());
  await Promise.all(ws);
  await sleep(cfg.settle * 1000);
  gc();
  await sleep(100);
  gc();
  const m1 = process.memoryUsage();
  const kib = (a, b) => (b - a) / 1024 / cfg.n;
  conns.forEach((c) => c.close());
  return {
    n: cfg.n,
    seconds: 0,
    rss_kib_per_conn: kib(m0.rss, m1.rss),
    extra: {
      heap_used_kib_per_conn: kib(m0.heapUsed, m1.heapUsed),
      external_kib_per_conn: kib(m0.external + m0.arrayBuffers, m1.external + m1.arrayBuffers),
      rss_base_mib: m0.rss / (1 << 20),
    },
  };
}

async function main() {
  const cfg = flags(process.argv.slice(2));
  const run = { seq, inflight, fanout, idle }[cfg.workload];
  if (!run) throw new Error(`unknown workload ${cfg.workload}`);
  const timer = setTimeout(() => {
    console.error(`js ${cfg.workload}: timeout after ${cfg.timeout}s`);
    process.exit(1);
  }, cfg.timeout * 1000);
  const r = await run(cfg);
  clearTimeout(timer);
  process.stdout.write(JSON.stringify({ client: "js", workload: cfg.workload, ...r }) + "\n");
  process.exit(0);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
