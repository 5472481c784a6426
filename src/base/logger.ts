/**
 * The logging seam. Modules log through this narrow shape; `main.ts` passes a pino logger, which
 * satisfies it, and tests pass `silentLogger` or a recorder.
 */
export interface LogFn {
  (object: Record<string, unknown>, message: string): void;
}

export interface Logger {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const ignore: LogFn = () => undefined;
export const silentLogger: Logger = { info: ignore, warn: ignore, error: ignore };
