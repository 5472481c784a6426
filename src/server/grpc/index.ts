export { startGrpcServer, type GrpcServer, type GrpcServerOptions } from './server.js';
