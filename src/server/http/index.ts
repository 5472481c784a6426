export { buildHttpApp, DOCS_PREFIX, ROUTE_PLUGINS, type HttpAppOptions, type RoutePlugin } from './app.js';
export { startHttpServer, type HttpServer, type HttpServerOptions } from './server.js';
export { toHttpFailure, ROUTE_NOT_FOUND, type ErrorReply, type HttpFailure } from './error-handler.js';
export type { HealthReply } from './routes/health.js';
export type { PauseReply, ResetReply } from './routes/groups.js';
export type { DeadLetterReply, DeadLettersReply, RecordBytesReply } from './routes/dlq.js';
