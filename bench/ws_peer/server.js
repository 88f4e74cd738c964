// Peer for bench/rooms_bench.sh: the smallest useful broadcast server on the
// npm `ws` package, to compare HiFi's room fan-out against.
//
//   node server.js [PORT]        (or PORT=... node server.js; 0 picks a free port)
//
// - WebSocket clients connect to /ws and first get {"type":"snapshot","seq":S}.
// - POST /command broadcasts {"type":"state","seq":N,...} to every open
//   client and answers 200 {"seq":N}. The message is serialised once and the
//   same Buffer is handed to every socket; its payload has the shape and size
//   of HiFi's "state" message for a room with one queued song.
// - Rooms: /ws?room=R and /command?room=R keep a client set and a seq per
//   room R (no room given: one room, as before), so a command reaches the
//   clients of its room only, as in HiFi.
// - GET /health answers 200 with the number of clients.
// Prints "listening on http://127.0.0.1:PORT" once ready.
'use strict';

const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const host = process.env.HOST ?? '127.0.0.1';

const startedAt = Date.now();
// Room name -> { clients: Set of sockets, seq }.
const rooms = new Map();
function roomOf(name) {
  let room = rooms.get(name);
  if (!room) {
    room = { clients: new Set(), seq: 0 };
    rooms.set(name, room);
  }
  return room;
}
function roomName(reqUrl) {
  return new URL(reqUrl, 'http://peer').searchParams.get('room') ?? '';
}

// Same fields as HiFi's state message (see docs/protocol.md), similar sizes.
function stateMessage(n, positionMs) {
  return {
    type: 'state',
    seq: n,
    command: { type: 'seek', by: '5b0f3c1e9d2a4f6b8c7e1a3d5f7b9c2e' },
    state: {
      queue: [{
        id: 'q1',
        song_id: 'a3f1c9e27b5d4e8f9a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7',
        added_by: '5b0f3c1e9d2a4f6b8c7e1a3d5f7b9c2e',
        duration_ms: 600000,
      }],
      current: 'q1',
      playing: false,
      position_ms: positionMs,
      position_at: Date.now(),
      repeat: 'off',
      listeners: [{ user_id: '5b0f3c1e9d2a4f6b8c7e1a3d5f7b9c2e', username: 'bench' }],
      revision: n,
    },
  };
}

const server = http.createServer((req, res) => {
  const url = req.url.split('?')[0];
  if (req.method === 'POST' && url === '/command') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let positionMs = 0;
      try {
        const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
        if (Number.isInteger(body.position_ms)) positionMs = body.position_ms;
      } catch {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        res.end('{"error":"invalid JSON"}');
        return;
      }
      const room = roomOf(roomName(req.url));
      const n = ++room.seq;
      // Serialise once; every socket of the room gets the same bytes as a text frame.
      const data = Buffer.from(JSON.stringify(stateMessage(n, positionMs)));
      for (const client of room.clients) {
        if (client.readyState === WebSocket.OPEN) client.send(data, { binary: false });
      }
      const body = JSON.stringify({ seq: n });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
    return;
  }
  if (req.method === 'GET' && url === '/health') {
    const body = JSON.stringify({ clients: wss.clients.size, rooms: rooms.size, uptime_ms: Date.now() - startedAt });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  res.writeHead(404, { 'Content-Type': 'application/json' });
  res.end('{"error":"not found"}');
});
// Keep the command connection alive between commands.
server.keepAliveTimeout = 60_000;
server.maxConnections = 100_000;

const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false, maxPayload: 1 << 20 });
wss.on('connection', (ws, req) => {
  const room = roomOf(roomName(req.url));
  room.clients.add(ws);
  ws.on('close', () => room.clients.delete(ws));
  ws.on('error', () => {});
  ws.send(JSON.stringify({ type: 'snapshot', seq: room.seq }));
});

server.listen({ port, host, backlog: 4096 }, () => {
  console.log(`listening on http://${host}:${server.address().port}`);
});

function stop() {
  for (const client of wss.clients) client.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
