/**
 * Names of the trailing metadata a failed call carries (see the proto's header comment). The server
 * writes them in its one error mapping; the client reads them back into a typed error.
 */

/** The stable Sluice error code (README "Errors"). */
export const ERROR_CODE_TRAILER = 'sluice-error-code';
/** "true" when retrying the same request may succeed. */
export const RETRIABLE_TRAILER = 'sluice-retriable';
/** On retriable refusals (backpressure, quotas): milliseconds to wait before retrying. */
export const RETRY_AFTER_MS_TRAILER = 'retry-after-ms';
/** The error's details as a JSON object. */
export const ERROR_DETAILS_TRAILER = 'sluice-error-details';

/** Longest `sluice-error-details` value sent; longer details are replaced by a note saying so. */
export const ERROR_DETAILS_BYTES_MAX = 2048;
