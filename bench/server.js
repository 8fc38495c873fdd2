// Benchmark server: the official socket.io 4.8 server (from the modules of
// testdata/conformance) speaking the Messaging Service events the clients
// under test use. It is shared by every client of a run, so any cost it has
// is the same for all of them.
//
//   node bench/server.js [port]     prints "READY <port>" once listening
//
// Events (docs/PROTOCOL.md section 4):
//   CONNECT auth {token}        refused with "Authentication required" without one
//   join:conversation id, ack   joins the room, ack {success:true}
//   message:send params, ack    ack {success:true, message:<row>}, and
//                               message:new <row> to the conversation's room
//
// The row has every column of a real message row (docs/PROTOCOL.md), snake_case,
// explicit nulls, ISO-8601 times with milliseconds.
"use strict";

const path = require("path");
const http = require("http");
const crypto = require("crypto");

const modules = path.join(__dirname, "..", "testdata", "conformance", "node_modules");
const { Server } = require(path.join(modules, "socket.io"));

const port = Number(process.argv[2] || process.env.PORT || 0);
const SENDER = "11111111-1111-4111-8111-111111111111";

const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const io = new Server(httpServer, {
  // The service's defaults: no heartbeat traffic during a workload.
  pingInterval: 25000,
  pingTimeout: 60000,
  maxHttpBufferSize: 1e6,
  transports: ["websocket"],
  // The clients under test never use permessage-deflate.
  perMessageDeflate: false,
});

io.use((socket, next) => {
  const token = socket.handshake.auth && socket.handshake.auth.token;
  if (!token) return next(new Error("Authentication required"));
  next();
});

const sequences = new Map();

function row(p) {
  const now = new Date().toISOString();
  const seq = (sequences.get(p.conversationId) || 0) + 1;
  sequences.set(p.conversationId, seq);
  return {
    id: p.id || crypto.randomUUID(),
    conversation_id: p.conversationId,
    sender_id: SENDER,
    sender_type: "user",
    content: p.content,
    content_type: p.contentType || "text",
    reply_to: p.replyTo || null,
    org_id: null,
    run_id: p.runId || null,
    trace_id: p.traceId || null,
    sequence: seq,
    priority: p.priority || "normal",
    interruptible: p.interruptible !== false,
    preempted_by: p.preemptedBy || null,
    metadata: p.metadata || {},
    created_at: now,
    updated_at: null,
    deleted_at: null,
  };
}

io.on("connection", (socket) => {
  socket.on("join:conversation", (id, ack) => {
    socket.join(String(id));
    if (typeof ack === "function") ack({ success: true });
  });
  socket.on("leave:conversation", (id) => socket.leave(String(id)));
  socket.on("message:send", (p, ack) => {
    if (!p || typeof p.conversationId !== "string" || typeof p.content !== "string") {
      if (typeof ack === "function") ack({ success: false, error: "Failed to send message" });
      return;
    }
    const message = row(p);
    if (typeof ack === "function") ack({ success: true, message });
    io.to(p.conversationId).emit("message:new", message);
  });
});

process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));

httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write(`READY ${httpServer.address().port}\n`);
});
