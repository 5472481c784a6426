/**
 * The echo server as a process of its own (`node --import tsx bench/echo-server.ts`), so that, like
 * the broker, it does not share an event loop with the benchmark's clients. Prints
 * `{"port":<port>,"pid":<pid>}` on standard output once listening; runs until killed.
 */
import { startEchoServer } from './echo-service.js';

const { port } = await startEchoServer('127.0.0.1', 0);
process.stdout.write(`${JSON.stringify({ port, pid: process.pid })}\n`);
process.on('SIGTERM', () => process.exit(0));
