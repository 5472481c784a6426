/**
 * Assertions are for bugs, not for expected failures (those are `BrokerError`s from errors.ts).
 * A failed assertion means our own state is wrong, so it throws and must not be caught to carry on:
 * corrupt state must not keep serving.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/**
 * A message built from values is passed as a function and built only when the assertion fails: hot
 * paths (every appended batch, every read) assert, and would otherwise format it on every call.
 */
export function assert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new AssertionError(typeof message === 'string' ? message : message());
}

export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${String(value)}`);
}
