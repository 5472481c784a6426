/**
 * Value serializers: how the producer turns a message value into bytes and the consumer turns bytes
 * back into a value. Without one, values are bytes (the producer takes strings, Buffers and
 * Uint8Arrays; the consumer hands out Buffers). `json()` is the one that comes in the box:
 *
 *   const producer = sluice.producer({ serializer: json<Order>() });
 *   const consumer = sluice.consumer({ groupId: 'billing', topics: ['orders'], deserializer: json<Order>() });
 *
 * A deserializer that throws makes the record a dead letter at once (it would fail the same way on
 * every redelivery): the consumer rejects it with errorClass `DeserializationError`.
 */
import type { Bytes } from './types.js';

export interface Serializer<V> {
  serialize(value: V): Bytes;
}

export interface Deserializer<V> {
  deserialize(bytes: Buffer): V;
}

export interface Serde<V> extends Serializer<V>, Deserializer<V> {}

/** JSON as UTF-8 text. The type parameter is what the consumer trusts the bytes to be: it does not validate. */
export function json<V = unknown>(): Serde<V> {
  return {
    serialize: (value) => JSON.stringify(value),
    deserialize: (bytes) => JSON.parse(bytes.toString('utf8')) as V,
  };
}

/** Thrown (and used as the rejection's errorClass) when a deserializer fails on a record. */
export class DeserializationError extends Error {
  override readonly name = 'DeserializationError';
}
