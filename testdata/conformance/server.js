// Protocol referee for the Go tests of internal/socketio: the official
// socket.io server with a few test handlers. Not part of the SDK.
//
//   node server.js <port>      (or PORT=<port> node server.js)
//
// Environment: SIO_PING_INTERVAL, SIO_PING_TIMEOUT (ms; defaults 1000/2000).
// Prints "READY <port>" on stdout once listening on 127.0.0.1.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || process.env.PORT || 0);
const pingInterval = Number(process.env.SIO_PING_INTERVAL || 1000);
const pingTimeout = Number(process.env.SIO_PING_TIMEOUT || 2000);

const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const io = new Server(httpServer, {
  pingInterval,
  pingTimeout,
  maxHttpBufferSize: 1e6,
  transports: ["websocket", "polling"],
});

// Refuses a missing token and the token "bad", with a message and data.
function auth(socket, next) {
  const token = socket.handshake.auth && socket.handshake.auth.token;
  if (!token || token === "bad") {
    const err = new Error("invalid credentials");
    err.data = { code: 401, reason: "bad token" };
    return next(err);
  }
  socket.data.token = token;
  next();
}

// Stops this connection's heartbeat and makes it ignore every packet, so the
// client sees a server that stopped answering (ping timeout).
function freeze(socket) {
  const conn = socket.conn;
  clearTimeout(conn.pingIntervalTimer);
  clearTimeout(conn.pingTimeoutTimer);
  conn.pingIntervalTimer = null;
  conn.pingTimeoutTimer = null;
  conn.schedulePing = () => {};
  conn.resetPingTimeout = () => {};
  if (conn.transport) conn.transport.removeAllListeners("packet");
}

function pattern(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 256;
  return b;
}

function common(socket) {
  socket.on("echo", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
    else socket.emit("echo", ...args);
  });
  socket.on("whoami", (ack) => ack(socket.data.token, socket.nsp.name, socket.id));
}

io.use(auth);
io.on("connection", (socket) => {
  common(socket);
  socket.on("binary", (n, ack) => {
    const b = pattern(n);
    ack(b, { nested: b.subarray(0, Math.floor(n / 2)) });
  });
  socket.on("emit-binary", (n) => socket.emit("binary", pattern(n), "after"));
  socket.on("server-disconnect", () => socket.disconnect());
  socket.on("server-close", () => socket.disconnect(true));
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack(true);
  });
  socket.on("broadcast", (room, ...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    io.to(room).emit("broadcast", ...args);
    if (ack) ack(true);
  });
  socket.on("freeze", (ack) => {
    ack(true);
    setImmediate(() => freeze(socket));
  });
  socket.on("ask", async (q, ack) => {
    try {
      const answer = await socket.timeout(5000).emitWithAck("question", q);
      ack(answer);
    } catch (e) {
      ack({ error: String(e && e.message) });
    }
  });
  socket.on("garbage", () => socket.conn.write("2{}"));
  // Ordered delivery check: every stream must arrive as 0, 1, 2, …
  const next = new Map();
  socket.on("seq", (stream, n, ack) => {
    const want = next.get(stream) || 0;
    next.set(stream, n + 1);
    ack(n, n === want);
  });
  // "never" is deliberately not answered (pending-ack tests).
});

const admin = io.of("/admin");
admin.use(auth);
admin.on("connection", (socket) => common(socket));

process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));

httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write(`READY ${httpServer.address().port}\n`);
});
