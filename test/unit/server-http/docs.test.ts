import { describe, expect, it } from 'vitest';
import { openHttpApp } from '../../helpers/http-app.js';

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { responses: Record<string, unknown>; parameters?: unknown[]; requestBody?: unknown; tags?: string[] }>>;
  components: { schemas: Record<string, unknown> };
  tags: { name: string; description: string }[];
}

function collectRefs(value: unknown, refs: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const item of value) collectRefs(item, refs);
  else if (typeof value === 'object' && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      if (key === '$ref' && typeof inner === 'string') refs.add(inner);
      else collectRefs(inner, refs);
    }
  }
  return refs;
}

describe('HTTP admin: OpenAPI description', () => {
  it('serves an OpenAPI document at /docs/json listing every route', async () => {
    const { app } = await openHttpApp();
    const response = await app.inject({ url: '/docs/json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json<OpenApiDocument>();
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info).toMatchObject({ title: 'Sluice admin API', version: '9.9.9' });
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
    expect(routes.sort()).toEqual(
      [
        'GET /healthz',
        'GET /metrics',
        'GET /v1/broker',
        'GET /v1/topics',
        'GET /v1/topics/{topic}/partitions/{partition}/records',
        'POST /v1/topics',
        'GET /v1/topics/{topic}',
        'DELETE /v1/topics/{topic}',
        'GET /v1/topics/{topic}/offsets',
        'GET /v1/groups',
        'GET /v1/groups/{group}',
        'DELETE /v1/groups/{group}',
        'POST /v1/groups/{group}/reset',
        'POST /v1/groups/{group}/pause',
        'POST /v1/groups/{group}/resume',
        'GET /v1/topics/{topic}/dlq',
        'POST /v1/topics/{topic}/dlq/redrive',
      ].sort(),
    );
    expect(doc.tags.map((t) => t.name)).toEqual(['health', 'metrics', 'broker', 'topics', 'groups', 'dlq']);
    expect(doc.paths['/v1/broker']!.get!.tags).toEqual(['broker']);
    expect(doc.paths['/v1/topics/{topic}/partitions/{partition}/records']!.get!.tags).toEqual(['topics']);
    expect(doc.paths['/v1/groups/{group}']!.get!.tags).toEqual(['groups']);
    expect(doc.paths['/v1/topics/{topic}/dlq']!.get!.tags).toEqual(['dlq']);
    expect(doc.paths['/v1/groups/{group}/reset']!.post!.requestBody).toBeDefined();
    expect(doc.paths['/v1/topics/{topic}/dlq/redrive']!.post!.requestBody).toBeDefined();
    for (const [route, operation] of Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([m, op]) => [`${m} ${path}`, op] as const))) {
      expect(Object.keys(operation.responses).length, route).toBeGreaterThan(0);
    }
    expect(doc.paths['/v1/topics']!.post!.requestBody).toBeDefined();
    expect(doc.paths['/v1/topics/{topic}']!.get!.responses['4XX']).toBeDefined();
    // Every $ref points into components.schemas and resolves.
    const refs = collectRefs(doc.paths, new Set());
    expect(refs.size).toBeGreaterThan(0);
    for (const ref of collectRefs(doc, refs)) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas[ref.slice('#/components/schemas/'.length)], ref).toBeDefined();
    }
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['ErrorReply', 'TopicDescription', 'PartitionState', 'TopicConfig', 'GroupDescription', 'GroupSummary', 'ResetPlanEntry', 'DeadLetter', 'RedriveResult', 'Record', 'BrokerOverview']),
    );
  });

  it('serves the UI at /docs from bundled assets (no CDN)', async () => {
    const { app } = await openHttpApp();
    let page = await app.inject({ url: '/docs' });
    if (page.statusCode === 302) page = await app.inject({ url: page.headers.location! });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) expect(asset).not.toMatch(/^(https?:)?\/\//);
    const bundle = await app.inject({ url: '/docs/static/swagger-ui-bundle.js' });
    expect(bundle.statusCode).toBe(200);
    expect(bundle.body.length).toBeGreaterThan(100_000);
  });
});
