export { buildApi, type ApiDeps } from './server.js';
