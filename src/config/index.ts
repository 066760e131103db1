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
export { DEFAULT_SHIFTS, UTC_CLOCK, shiftAt, dayStart, isTimeZone, type PlantClock, type Shift } from './plant.js';
