/**
 * The web handler of the demo: a tiny HTTP endpoint, `POST /uploads` with `{ videoId, source,
 * thumbnailAt }`, that enqueues the video's jobs and answers `202 Accepted` at once. It waits only
 * for the broker's acknowledgment (the jobs are on disk), never for the work: the queue decouples the
 * two in time. The jobs of a video are sent in one `send` with the video id as key, so they go to
 * one partition, in step order.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Producer, type RecordMetadata, type Sluice, json } from '../../src/client/index.js';
import { type TranscodeJob, type Upload, jobsForUpload, videoKey } from './jobs.js';

export interface EnqueuedJob {
  job: TranscodeJob;
  partition: number;
  offset: number;
}

export interface UploadAnswer {
  videoId: number;
  jobs: { jobId: string; partition: number; offset: number }[];
  /** How long the handler took, enqueueing included. */
  handlerMs: number;
}

export interface WebHandler {
  url: string;
  /** Every job enqueued so far. */
  enqueued: EnqueuedJob[];
  close(): Promise<void>;
}

export async function startWebHandler(sluice: Sluice, topic: string): Promise<WebHandler> {
  const producer: Producer<TranscodeJob> = sluice.producer({ serializer: json<TranscodeJob>() });
  // A web server connects at start-up, not on its first request.
  await producer.connect();
  const enqueued: EnqueuedJob[] = [];

  const handle = async (request: http.IncomingMessage): Promise<{ status: number; body: unknown }> => {
    if (request.method !== 'POST' || request.url !== '/uploads') return { status: 404, body: { error: 'POST /uploads only' } };
    const startedAt = performance.now();
    let upload: Upload;
    try {
      upload = JSON.parse(await readBody(request)) as Upload;
    } catch {
      return { status: 400, body: { error: 'the body must be JSON' } };
    }
    if (!Number.isInteger(upload.videoId) || typeof upload.source !== 'string') return { status: 400, body: { error: 'videoId (integer) and source are required' } };
    // The bug of the story: thumbnailAt is passed on as the form sent it, unchecked.
    const jobs = jobsForUpload(upload, Date.now());
    const written: RecordMetadata[] = await producer.send({ topic, messages: jobs.map((job) => ({ key: videoKey(job.videoId), value: job })) });
    jobs.forEach((job, i) => enqueued.push({ job, partition: written[i]!.partition, offset: written[i]!.offset }));
    const answer: UploadAnswer = {
      videoId: upload.videoId,
      jobs: jobs.map((job, i) => ({ jobId: job.jobId, partition: written[i]!.partition, offset: written[i]!.offset })),
      handlerMs: performance.now() - startedAt,
    };
    return { status: 202, body: answer };
  };

  const server = http.createServer((request, response) => {
    handle(request).then(
      ({ status, body }) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
      (error: unknown) => response.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(error) })),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/uploads`,
    enqueued,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await producer.disconnect();
    },
  };
}

/** What a user's browser does: posts the upload and gets the 202 (or throws with the refusal). */
export async function postUpload(url: string, upload: Upload): Promise<UploadAnswer> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(upload) });
  const body: unknown = await response.json();
  if (response.status !== 202) throw new Error(`POST /uploads for video ${upload.videoId}: ${response.status} ${JSON.stringify(body)}`);
  return body as UploadAnswer;
}

async function readBody(request: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
