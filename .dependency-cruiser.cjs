/**
 * The module rules of ../shared/ARCHITECTURE.md, checked on every `npm test`.
 * Imports point one way: transports -> broker -> partition/group/dlq -> storage/meta -> base.
 * A module is used through its index.ts; nothing reaches into another module's files.
 */
const layer = (from, allowed) => ({
  name: `layer-${from.replace(/[^a-z]/g, '')}`,
  comment: `${from} may import only ${allowed.join(', ') || 'nothing else in src'}`,
  severity: 'error',
  from: { path: `^src/${from}` },
  to: {
    path: '^src/',
    pathNot: [`^src/${from}`, ...allowed.map((m) => `^src/${m}`)],
  },
});

const onlyIn = (pkg, rooms) => ({
  name: `only-${pkg.replace(/[^a-z]/g, '')}`,
  comment: `${pkg} stays in ${rooms.join(', ')}`,
  severity: 'error',
  from: { path: '^src/', pathNot: rooms.map((r) => `^src/${r}`) },
  to: { path: `node_modules/${pkg}` },
});

const lower = ['base/', 'errors\\.ts', 'config\\.ts', 'metrics\\.ts'];

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'through-index-only',
      comment: 'another module is used through its index.ts, never its inner files',
      severity: 'error',
      from: { path: '^src/([^/]+)/' },
      to: { path: '^src/([^/]+)/.+', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$', '^src/server/[^/]+/index\\.ts$'] },
    },
    layer('base/', []),
    layer('errors\\.ts', ['base/']),
    layer('config\\.ts', ['base/', 'errors\\.ts']),
    layer('metrics\\.ts', ['base/']),
    layer('storage/', lower),
    layer('meta/', lower),
    layer('partition/', [...lower, 'storage/', 'meta/']),
    layer('group/', [...lower, 'storage/', 'meta/', 'partition/']),
    layer('dlq/', [...lower, 'storage/', 'meta/', 'partition/']),
    layer('broker\\.ts', [...lower, 'storage/', 'meta/', 'partition/', 'group/', 'dlq/']),
    layer('wire/', ['base/', 'errors\\.ts']),
    layer('server/grpc/', ['broker\\.ts', 'wire/', 'errors\\.ts', 'config\\.ts', 'metrics\\.ts', 'base/']),
    layer('server/http/', ['broker\\.ts', 'errors\\.ts', 'config\\.ts', 'metrics\\.ts', 'base/']),
    layer('client/', ['wire/', 'errors\\.ts', 'base/']),
    layer('cli/', ['client/', 'config\\.ts', 'base/', 'main\\.ts']),
    {
      name: 'main-not-client',
      comment: 'the composition root builds the server side; the client is a separate library',
      severity: 'error',
      from: { path: '^src/main\\.ts$' },
      to: { path: '^src/client/' },
    },
    onlyIn('lmdb', ['meta/']),
    onlyIn('prom-client', ['metrics\\.ts']),
    onlyIn('fastify', ['server/http/']),
    onlyIn('@fastify', ['server/http/']),
    onlyIn('@grpc', ['wire/', 'server/grpc/', 'client/']),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
