export { DLQ_HEADER_PREFIX, REDRIVE_COUNT_HEADER, DlqHeader, deadLetterRecord, readProvenance, redrivenRecord, type DeadLetterSource, type Provenance } from './dead-letter.js';
export { Redriver, type RedriveRequest, type RedriveResult, type RedrivePreviewEntry } from './redrive.js';
export { listDeadLetters, type DeadLetterView, type ListDeadLettersRequest } from './inspect.js';
