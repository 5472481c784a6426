/**
 * Branded numbers: an offset, a partition id, a generation and a byte position are all plain numbers
 * at run time, but the compiler keeps them from being mixed up. Offsets are 64-bit on disk; in memory
 * they are JavaScript numbers, exact up to 2^53, which a log appending a million records a second
 * reaches in about 285 years.
 */
declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type Offset = Brand<number, 'Offset'>;
export type PartitionId = Brand<number, 'PartitionId'>;
export type Generation = Brand<number, 'Generation'>;

export const asOffset = (value: number): Offset => value as Offset;
export const asPartitionId = (value: number): PartitionId => value as PartitionId;
export const asGeneration = (value: number): Generation => value as Generation;

export const OFFSET_MAX = Number.MAX_SAFE_INTEGER;
