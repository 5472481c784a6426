export {
  brokerService,
  BROKER_METHOD_NAMES,
  BROKER_PROTO_FILE,
  BROKER_SERVICE_NAME,
  PROTO_DIR,
  PROTO_LOADER_OPTIONS,
  type BrokerMethods,
  type BrokerMethodName,
  type BrokerServiceDefinition,
} from './proto.js';
export {
  ERROR_CODE_TRAILER,
  RETRIABLE_TRAILER,
  RETRY_AFTER_MS_TRAILER,
  ERROR_DETAILS_TRAILER,
  ERROR_DETAILS_BYTES_MAX,
} from './metadata-keys.js';
export type * from './messages.js';
