/**
 * The connection a producer, consumer or admin of the `Sluice` entry point owns: one SluiceClient
 * (one gRPC channel), opened on first use. The first broker of the list that answers is used (Sluice
 * runs as one broker; the list lets a deployment name its address candidates). A failed connect is
 * not cached, so the next use tries again. Once open, the channel reconnects by itself after a broken
 * connection (within `reconnectBackoffMaxMs`).
 */
import { SluiceClient } from './client.js';
import { clientError, isSluiceError } from './errors.js';
import { status as GrpcStatusCode } from '@grpc/grpc-js';

export interface ConnectionOptions {
  /** Broker addresses, `host:port`, tried in order. */
  brokers: readonly string[];
  /** Names this client in the broker's quotas, metrics and group descriptions. */
  clientId?: string;
  /** How long connecting to one broker may take. Default 10 s. */
  connectTimeoutMs?: number;
  /** Deadline of each request that is not a stream. Default 30 s. */
  requestTimeoutMs?: number;
  /** Longest wait between reconnect attempts of a broken connection. Default 5 s. */
  reconnectBackoffMaxMs?: number;
  /** How much the broker may send before this client read it (HTTP/2 flow control). Default 4 MiB. */
  flowControlWindowBytes?: number;
}

export class Connection {
  private opening: Promise<SluiceClient> | undefined;
  private client: SluiceClient | undefined;
  private closed = false;

  constructor(readonly options: ConnectionOptions) {
    if (options.brokers.length === 0) throw new RangeError('brokers must name at least one broker (host:port)');
  }

  /** The connected client, connecting first if needed. */
  get(): Promise<SluiceClient> {
    if (this.closed) return Promise.reject(clientError('CLIENT_CLOSED', 'the connection is closed'));
    this.opening ??= this.open().then(
      (client) => {
        if (this.closed) {
          client.close();
          throw clientError('CLIENT_CLOSED', 'the connection was closed while it was being opened');
        }
        this.client = client;
        return client;
      },
      (error: unknown) => {
        this.opening = undefined;
        throw error;
      },
    );
    return this.opening;
  }

  private async open(): Promise<SluiceClient> {
    let last: unknown;
    for (const broker of this.options.brokers) {
      try {
        return await SluiceClient.connect({
          broker,
          ...(this.options.clientId === undefined ? {} : { clientId: this.options.clientId }),
          ...(this.options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: this.options.connectTimeoutMs }),
          ...(this.options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: this.options.requestTimeoutMs }),
          ...(this.options.reconnectBackoffMaxMs === undefined ? {} : { reconnectBackoffMaxMs: this.options.reconnectBackoffMaxMs }),
          ...(this.options.flowControlWindowBytes === undefined ? {} : { flowControlWindowBytes: this.options.flowControlWindowBytes }),
        });
      } catch (error) {
        last = error;
      }
    }
    if (isSluiceError(last)) throw last;
    throw clientError('BROKER_UNAVAILABLE', `could not connect to any of ${this.options.brokers.join(', ')}`, GrpcStatusCode.UNAVAILABLE, last);
  }

  close(): void {
    this.closed = true;
    this.client?.close();
    this.client = undefined;
  }
}
