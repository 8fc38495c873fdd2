// Drives the official socket.io-client against a server under test (the Go
// server of internal/socketio): node client.js <url>
// Prints one "ok <check>" line per passed check; exits 1 on the first failure.
"use strict";

const { io } = require("socket.io-client");
const assert = require("assert");

const url = process.argv[2];
if (!url) {
  console.error("usage: node client.js <url>");
  process.exit(2);
}

const opts = (extra) => ({ transports: ["websocket"], reconnection: false, forceNew: true, ...extra });

function connected(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
}

async function main() {
  const s = io(url, opts({ auth: { token: "node" } }));
  await connected(s);
  console.log("ok connect");

  const echo = await s.timeout(5000).emitWithAck("echo", "hi", 1, { a: [true, null] });
  assert.deepStrictEqual(echo, "hi"); // emitWithAck resolves with the first ack argument
  console.log("ok echo");

  const who = await s.timeout(5000).emitWithAck("whoami");
  assert.strictEqual(who, "node");
  console.log("ok auth");

  const buf = Buffer.from([0, 1, 2, 253, 254, 255]);
  // "echo-binary" decodes its argument as bytes and answers with bytes (a Go
  // handler receives binary arguments as base64 JSON strings).
  const back = await s.timeout(5000).emitWithAck("echo-binary", buf);
  assert.ok(Buffer.isBuffer(back), "binary came back as " + typeof back);
  assert.ok(buf.equals(back), "binary differs");
  console.log("ok binary");

  const gen = await s.timeout(5000).emitWithAck("binary", 256);
  assert.ok(Buffer.isBuffer(gen) && gen.length === 256 && gen[255] === 255);
  console.log("ok server-binary");

  // Many acks in flight at once, answered in order.
  const many = await Promise.all(Array.from({ length: 500 }, (_, i) => s.timeout(10000).emitWithAck("echo", i)));
  many.forEach((v, i) => assert.strictEqual(v, i));
  console.log("ok many-acks");

  const bad = io(url, opts({ auth: { token: "bad" } }));
  try {
    await connected(bad);
    throw new Error("bad token accepted");
  } catch (err) {
    assert.strictEqual(err.message, "invalid credentials");
    assert.deepStrictEqual(err.data, { code: 401 });
  }
  bad.close();
  console.log("ok refused");

  const admin = io(url + "/admin", opts({ auth: { token: "node" } }));
  await connected(admin);
  const nsp = await new Promise((resolve) => admin.emit("whoami", (tok, name) => resolve(name)));
  assert.strictEqual(nsp, "/admin");
  admin.close();
  console.log("ok namespace");

  const nope = io(url + "/nope", opts({ auth: { token: "node" } }));
  try {
    await connected(nope);
    throw new Error("unknown namespace accepted");
  } catch (err) {
    assert.strictEqual(err.message, "Invalid namespace");
  }
  nope.close();
  console.log("ok invalid-namespace");

  const reason = await new Promise((resolve) => {
    s.once("disconnect", resolve);
    s.emit("server-disconnect");
  });
  assert.strictEqual(reason, "io server disconnect");
  assert.strictEqual(s.active, false);
  console.log("ok server-disconnect");
  s.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error("FAIL", err && err.stack ? err.stack : err);
    process.exit(1);
  },
);
