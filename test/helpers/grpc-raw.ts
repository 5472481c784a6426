/**
 * Raw gRPC calls with hand-built wire messages, for requests the typed client would never send
 * (negative numbers, missing oneofs, fields the client fills in for you). The outcome keeps the
 * gRPC status and the trailers as the server sent them.
 */
import { Client, type ClientDuplexStream, credentials, Metadata, type MethodDefinition, type ServiceError } from '@grpc/grpc-js';
import { ERROR_CODE_TRAILER, RETRIABLE_TRAILER, RETRY_AFTER_MS_TRAILER } from '../../src/wire/index.js';

export interface RawOutcome<Res> {
  response?: Res;
  error?: ServiceError;
  /** The `sluice-error-code` trailer. */
  errorCode?: string;
  retriable?: string;
  retryAfterMs?: string;
}

export class RawClient {
  private readonly channel: Client;

  constructor(address: string) {
    this.channel = new Client(address, credentials.createInsecure());
  }

  unary<Req, Res>(method: MethodDefinition<Req, Res>, request: Req): Promise<RawOutcome<Res>> {
    return new Promise((resolve) => {
      this.channel.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, new Metadata(), { deadline: Date.now() + 10_000 }, (error, response) => {
        if (error === null) {
          resolve({ response: response! });
          return;
        }
        const trailer = (key: string): string | undefined => error.metadata?.get(key)[0]?.toString();
        resolve({
          error,
          errorCode: trailer(ERROR_CODE_TRAILER),
          retriable: trailer(RETRIABLE_TRAILER),
          retryAfterMs: trailer(RETRY_AFTER_MS_TRAILER),
        });
      });
    });
  }

  /** A bidirectional stream (Consume, ProduceStream) with hand-built messages. */
  bidi<Req, Res>(method: MethodDefinition<Req, Res>): ClientDuplexStream<Req, Res> {
    return this.channel.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, new Metadata(), {});
  }

  close(): void {
    this.channel.close();
  }
}
