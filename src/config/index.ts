export * from './schema.js';
export {
  loadConfigFile,
  loadCandidateFile,
  parseConfig,
  validateConfig,
  resolveFromConfig,
  deepFreeze,
  ConfigError,
  type LoadedConfig,
  type ConfigIssue,
} from './load.js';
export { demoConfig, plateRecipe, type DemoOptions } from './defaults.js';
