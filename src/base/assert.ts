/**
 * Assertions are for bugs, not for expected failures (those are `BrokerError`s from errors.ts).
 * A failed assertion means our own state is wrong, so it throws and must not be caught to carry on:
 * corrupt state must not keep serving.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${String(value)}`);
}
