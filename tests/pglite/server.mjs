// Serves an in-memory PGlite (PostgreSQL 17 + TimescaleDB with the TSL library) on 127.0.0.1 so the
// tests can run continuous-aggregate SQL that the Apache-licensed server refuses.
// Usage: node server.mjs PORT   — prints "ready <port>" once it accepts connections.
import { PGlite } from '@electric-sql/pglite';
import { timescaledb } from '@electric-sql/pglite/timescaledb';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

const port = Number(process.argv[2] ?? 0);
const db = await PGlite.create({ extensions: { timescaledb } });
const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', connectionQueueTimeout: 60000 });
await server.start();
console.log(`ready ${server.getServerConn()}`);
const stop = async () => { await server.stop(); await db.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
