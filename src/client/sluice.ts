/**
 * The library's entry point: where the broker is and who this client is, and factories for the
 * producer, consumer and admin built on the low-level SluiceClient.
 *
 *   import { Sluice } from 'sluice';
 *   const sluice = new Sluice({ brokers: ['127.0.0.1:7070'], clientId: 'billing' });
 *   const producer = sluice.producer();
 *   const consumer = sluice.consumer({ groupId: 'billing', topics: ['orders'] });
 *   const admin = sluice.admin();
 *
 * Each producer, consumer and admin owns its connection (one gRPC channel), opened on first use and
 * closed by its `disconnect()`: the broker's per-connection limits (in-flight produce bytes) then
 * apply to each on its own.
 */
import { Admin } from './admin.js';
import { checkFlowControlWindow } from './client.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { Consumer, type ConsumerOptions } from './consumer.js';
import { Producer, type ProducerOptions } from './producer.js';
import type { Serializer } from './serde.js';
import type { Bytes } from './types.js';

export type SluiceOptions = ConnectionOptions;

export class Sluice {
  private readonly options: SluiceOptions;

  constructor(options: SluiceOptions) {
    const brokers: string[] = typeof options.brokers === 'string' ? [options.brokers] : Array.from(options.brokers ?? []);
    if (brokers.length === 0) throw new TypeError('Sluice needs brokers: ["host:port", ...]');
    if (options.flowControlWindowBytes !== undefined) checkFlowControlWindow(options.flowControlWindowBytes);
    this.options = { ...options, brokers };
  }

  /** A producer of byte or text values. */
  producer(options?: Omit<ProducerOptions<Bytes>, 'serializer'>): Producer<Bytes>;
  /** A producer whose values go through `serializer` (e.g. `json<Order>()`). */
  producer<V>(options: ProducerOptions<V> & { serializer: Serializer<V> }): Producer<V>;
  producer<V>(options: ProducerOptions<V> = {}): Producer<V> {
    return new Producer<V>(new Connection(this.options), options);
  }

  /** A consumer-group member; values are Buffers, or what `deserializer` makes of them. */
  consumer<V = Buffer>(options: ConsumerOptions<V>): Consumer<V> {
    return new Consumer<V>(new Connection(this.options), options);
  }

  admin(): Admin {
    return new Admin(new Connection(this.options));
  }
}
