export { GroupCoordinator, type GroupSettings, type JoinRequest, type DeadLetterRequest, type CoordinatorOptions, type FailureReport } from './coordinator.js';
export { ASSIGNMENT_STRATEGIES, type AssignmentStrategy, type TopicPartition, assign, partitionKey } from './assignor.js';
export { PartitionCursor, type FailureCause, type InFlightRecord, type OffsetRange } from './partition-cursor.js';
export { GroupState, type MemberSink, type Delivery, type DeliveredRecord, deliveredRecords, type Member, type PartitionSlot } from './group-state.js';
export { GroupAdmin, type GroupDescription, type GroupSummary, type GroupPartitionView, type GroupMemberView, type ResetTarget, type ResetPlanEntry } from './admin.js';
