/**
 * Loads the gRPC contract (proto/sluice/v1/broker.proto) once and exposes the Broker service with
 * typed methods. The proto directory sits at the package root; this file is two levels below it
 * both as source (src/wire/) and when built (dist/wire/), so the path resolves from either.
 *
 * Decoding options (one choice for both sides): camelCase field names; int64 as JavaScript numbers,
 * exact because offsets and ids stay below 2^53 (src/base/ids.ts); bytes as Buffer; absent fields
 * filled with their zero value (`defaults`), except proto3 `optional` fields, which stay absent; and
 * the name of a oneof's present member (`oneofs`).
 */
import { fileURLToPath } from 'node:url';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import { assert } from '../base/index.js';
import type * as wire from './messages.js';

/** The directory holding `sluice/v1/broker.proto`. */
export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));
export const BROKER_PROTO_FILE = 'sluice/v1/broker.proto';
export const BROKER_SERVICE_NAME = 'sluice.v1.Broker';

export const PROTO_LOADER_OPTIONS: Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

/** Every RPC of the Broker service with its request and response message types. */
export interface BrokerMethods {
  Metadata: MethodDefinition<wire.MetadataRequest, wire.MetadataResponse>;
  InitProducer: MethodDefinition<wire.InitProducerRequest, wire.InitProducerResponse>;
  Produce: MethodDefinition<wire.ProduceRequest, wire.ProduceResponse>;
  ProduceStream: MethodDefinition<wire.ProduceRequest, wire.ProduceResponse>;
  Fetch: MethodDefinition<wire.FetchRequest, wire.FetchResponse>;
  Subscribe: MethodDefinition<wire.SubscribeRequest, wire.FetchResponse>;
  ListOffsets: MethodDefinition<wire.ListOffsetsRequest, wire.ListOffsetsResponse>;
  CreateTopic: MethodDefinition<wire.CreateTopicRequest, wire.TopicDescription>;
  DeleteTopic: MethodDefinition<wire.DeleteTopicRequest, wire.DeleteTopicResponse>;
  ListTopics: MethodDefinition<wire.ListTopicsRequest, wire.ListTopicsResponse>;
  DescribeTopic: MethodDefinition<wire.DescribeTopicRequest, wire.TopicDescription>;
  Consume: MethodDefinition<wire.ConsumeRequest, wire.ConsumeEvent>;
  ListGroups: MethodDefinition<wire.ListGroupsRequest, wire.ListGroupsResponse>;
  DescribeGroup: MethodDefinition<wire.DescribeGroupRequest, wire.GroupDescription>;
  ResetGroup: MethodDefinition<wire.ResetGroupRequest, wire.ResetGroupResponse>;
  SetGroupPaused: MethodDefinition<wire.SetGroupPausedRequest, wire.SetGroupPausedResponse>;
  DeleteGroup: MethodDefinition<wire.DeleteGroupRequest, wire.DeleteGroupResponse>;
  ListDeadLetters: MethodDefinition<wire.ListDeadLettersRequest, wire.ListDeadLettersResponse>;
  Redrive: MethodDefinition<wire.RedriveRequest, wire.RedriveResponse>;
}

export type BrokerMethodName = keyof BrokerMethods;

/** The Broker service: pass it to `Server.addService`, or use its methods' paths and codecs in a client. */
export type BrokerServiceDefinition = ServiceDefinition & BrokerMethods;

const STREAMING: Readonly<Record<BrokerMethodName, { requestStream: boolean; responseStream: boolean }>> = {
  Metadata: { requestStream: false, responseStream: false },
  InitProducer: { requestStream: false, responseStream: false },
  Produce: { requestStream: false, responseStream: false },
  ProduceStream: { requestStream: true, responseStream: true },
  Fetch: { requestStream: false, responseStream: false },
  Subscribe: { requestStream: false, responseStream: true },
  ListOffsets: { requestStream: false, responseStream: false },
  CreateTopic: { requestStream: false, responseStream: false },
  DeleteTopic: { requestStream: false, responseStream: false },
  ListTopics: { requestStream: false, responseStream: false },
  DescribeTopic: { requestStream: false, responseStream: false },
  Consume: { requestStream: true, responseStream: true },
  ListGroups: { requestStream: false, responseStream: false },
  DescribeGroup: { requestStream: false, responseStream: false },
  ResetGroup: { requestStream: false, responseStream: false },
  SetGroupPaused: { requestStream: false, responseStream: false },
  DeleteGroup: { requestStream: false, responseStream: false },
  ListDeadLetters: { requestStream: false, responseStream: false },
  Redrive: { requestStream: false, responseStream: false },
};

/** The RPC names, in the proto's order. */
export const BROKER_METHOD_NAMES = Object.keys(STREAMING) as BrokerMethodName[];

function loadBrokerService(): BrokerServiceDefinition {
  const definition = loadSync(BROKER_PROTO_FILE, PROTO_LOADER_OPTIONS);
  const service = definition[BROKER_SERVICE_NAME];
  assert(service !== undefined && !('format' in service), () => `${BROKER_PROTO_FILE} defines no service ${BROKER_SERVICE_NAME}`);
  // The typed interface above must describe the proto exactly: same methods, same streaming shape.
  const loaded = Object.keys(service).sort();
  assert(loaded.join() === [...BROKER_METHOD_NAMES].sort().join(), () => `the proto's methods (${loaded.join()}) differ from BrokerMethods`);
  for (const name of BROKER_METHOD_NAMES) {
    const method = service[name]!;
    const expected = STREAMING[name];
    assert(method.requestStream === expected.requestStream, () => `${name}: requestStream differs from the proto`);
    assert(method.responseStream === expected.responseStream, () => `${name}: responseStream differs from the proto`);
  }
  return service as unknown as BrokerServiceDefinition;
}

export const brokerService: BrokerServiceDefinition = loadBrokerService();
