import type { Logger } from '../../base/index.js';
import type { Broker } from '../../broker.js';

/** What every route plugin is given. */
export interface RouteContext {
  broker: Broker;
  logger: Logger;
  /** The broker's version, as the OpenAPI description and the overview show it. */
  version: string;
}
