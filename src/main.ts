/**
 * Composition root. The broker server (gRPC + HTTP admin) is wired here as it lands; until then
 * `npm start` opens the default data directory's storage and explains what is available.
 */
console.log('Sluice: the storage engine is ready; the broker server lands with the next milestone.');
console.log('Run `npm test` for the test suites and `npm run bench` for the storage benchmarks.');
