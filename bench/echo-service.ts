/**
 * The echo baseline of the broker benchmark: bench/echo.proto loaded with the broker's own
 * proto-loader options (src/wire/proto.ts), a server with no work behind its replies, and a client
 * shaped like SluiceClient (one connection per client; a stream that answers in request order).
 */
import { fileURLToPath } from 'node:url';
import {
  Client,
  Metadata,
  type MethodDefinition,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type ClientDuplexStream,
  type handleBidiStreamingCall,
  type handleUnaryCall,
  credentials,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

export interface Entry {
  offset?: number;
  timestampMs?: number;
  value?: Buffer;
}

export interface PushRequest {
  topic: string;
  entries: Entry[];
  correlationId: number;
}

export interface PushReply {
  correlationId: number;
  entryCount: number;
}

export interface PullRequest {
  entryCount: number;
  valueBytes: number;
}

export interface PullReply {
  entries: Entry[];
  nextOffset: number;
}

type EchoService = ServiceDefinition & {
  Push: MethodDefinition<PushRequest, PushReply>;
  PushStream: MethodDefinition<PushRequest, PushReply>;
  Pull: MethodDefinition<PullRequest, PullReply>;
};

const PROTO_FILE = fileURLToPath(new URL('./echo.proto', import.meta.url));
/** The broker's default requestBytesMax, the limit its gRPC server sets in both directions. */
const MESSAGE_BYTES_MAX = 16 * 1024 * 1024;

function loadEchoService(): EchoService {
  // The options of src/wire/proto.ts, so both sides decode the same way the broker's do.
  const definition = loadSync(PROTO_FILE, { keepCase: false, longs: Number, enums: String, bytes: Buffer, defaults: true, oneofs: true });
  return definition['sluicebench.v1.Echo'] as unknown as EchoService;
}

const echoService = loadEchoService();

/** Starts the echo server on `host:port` (0: any free port); resolves with the bound port. */
export async function startEchoServer(host: string, port: number): Promise<{ port: number; server: Server }> {
  const server = new Server({ 'grpc.max_receive_message_length': MESSAGE_BYTES_MAX, 'grpc.max_send_message_length': MESSAGE_BYTES_MAX });
  const pullReplies = new Map<string, PullReply>();
  const push: handleUnaryCall<PushRequest, PushReply> = (call, callback) => {
    callback(null, { correlationId: call.request.correlationId, entryCount: call.request.entries.length });
  };
  const pushStream: handleBidiStreamingCall<PushRequest, PushReply> = (call) => {
    call.on('data', (request: PushRequest) => call.write({ correlationId: request.correlationId, entryCount: request.entries.length }));
    call.on('end', () => call.end());
  };
  const pull: handleUnaryCall<PullRequest, PullReply> = (call, callback) => {
    const { entryCount, valueBytes } = call.request;
    const key = `${entryCount}/${valueBytes}`;
    let reply = pullReplies.get(key);
    if (reply === undefined) {
      const value = Buffer.alloc(valueBytes, 0x61);
      const nowMs = Date.now();
      reply = { entries: Array.from({ length: entryCount }, (_, i) => ({ offset: i, timestampMs: nowMs + i, value })), nextOffset: entryCount };
      pullReplies.set(key, reply);
    }
    callback(null, reply);
  };
  server.addService(echoService, { Push: push, PushStream: pushStream, Pull: pull });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
  );
  return { port: bound, server };
}

/** One connection to the echo server (like SluiceClient: gRPC's subchannel pool is not shared). */
export class EchoClient {
  private constructor(private readonly channel: Client) {}

  static async connect(address: string): Promise<EchoClient> {
    const channel = new Client(address, credentials.createInsecure(), {
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
      'grpc.max_send_message_length': 256 * 1024 * 1024,
      'grpc.use_local_subchannel_pool': 1,
    });
    await new Promise<void>((resolve, reject) => channel.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())));
    return new EchoClient(channel);
  }

  push(request: PushRequest): Promise<PushReply> {
    return this.unary(echoService.Push, request);
  }

  pull(request: PullRequest): Promise<PullReply> {
    return this.unary(echoService.Pull, request);
  }

  pushStream(): EchoStream {
    const method = echoService.PushStream;
    return new EchoStream(this.channel.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, new Metadata(), {}));
  }

  close(): void {
    this.channel.close();
  }

  private unary<Req, Res>(method: MethodDefinition<Req, Res>, request: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.channel.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, new Metadata(), {}, (error, reply) => {
        if (error !== null) reject(error);
        else if (reply === undefined) reject(new Error(`${method.path} answered without a message`));
        else resolve(reply);
      });
    });
  }
}

/** A PushStream: `send` resolves with the reply to its request (replies come in request order). */
export class EchoStream {
  private readonly waiting: { correlationId: number; resolve: (reply: PushReply) => void; reject: (error: Error) => void }[] = [];
  private nextCorrelationId = 1;
  private failure: Error | undefined;
  private readonly ended: Promise<void>;

  constructor(private readonly call: ClientDuplexStream<PushRequest, PushReply>) {
    call.on('data', (reply: PushReply) => {
      const head = this.waiting.shift();
      if (head === undefined || head.correlationId !== reply.correlationId) this.fail(new Error(`echo stream answered ${reply.correlationId} out of order`));
      else head.resolve(reply);
    });
    call.on('error', (error: Error) => this.fail(error));
    this.ended = new Promise((resolve) => call.on('status', () => resolve()));
  }

  send(request: Omit<PushRequest, 'correlationId'>): Promise<PushReply> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const correlationId = this.nextCorrelationId++;
    const reply = new Promise<PushReply>((resolve, reject) => this.waiting.push({ correlationId, resolve, reject }));
    this.call.write({ ...request, correlationId });
    return reply;
  }

  async close(): Promise<void> {
    this.call.end();
    await this.ended;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const entry of this.waiting.splice(0)) entry.reject(error);
  }
}
