/** The compared systems by name (the runner and the producer worker look adapters up here). */
import { natsAdapter } from './nats.js';
import { redisAdapter } from './redis.js';
import { sluiceAdapter } from './sluice.js';
import type { SystemAdapter, SystemName } from './workload.js';

export const ADAPTERS: Readonly<Record<SystemName, SystemAdapter>> = {
  sluice: sluiceAdapter,
  redis: redisAdapter,
  nats: natsAdapter,
};
