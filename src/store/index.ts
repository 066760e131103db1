export { openDatabase, type Db } from './db.js';
export { migrate, migrationsDir } from './migrate.js';
export * from './backup.js';
export { parseDatabaseUrl, redact, type DatabaseTarget } from './url.js';
export {
  Repository,
  CURSOR_PATTERN,
  type InspectionFilter,
  type StationInfo,
  type WhatIfScan,
  type WhatIfRow,
  type Scope,
} from './repository.js';
export { ALLOWED_BINS, scoreBin } from './stats.js';
export { canonicalJson, canonicalSha256, type ChainReport } from './chain.js';
export { Lots, LOT_PAGE, type LotPart, type LotScope, type LotSummary, type PartsOptions } from './lots.js';
export { DiskImageStore, IMAGE_VARIANTS, type ImageStore, type ImageVariant, type StoredImage } from './images.js';
export { Recorder, type RecorderCounters, type RecorderOptions } from './recorder.js';
export { Retention, type RetentionOptions, type RetentionCounters, type DiskStatus } from './retention.js';
export {
  Accounts,
  ROLES,
  roleAtLeast,
  hashPassword,
  verifyPassword,
  checkUsername,
  checkNewPassword,
  USERNAME_PATTERN,
  PASSWORD_POLICY,
  PASSWORD_MIN,
  KEY_DEFAULT_DAYS,
  KEY_MAX_DAYS,
  type Role,
  type Principal,
  type ApiKeyInfo,
  type KeyLookup,
} from './accounts.js';
export { Exporter, isSafeName, SAFE_NAME_PATTERN, type ExportJob, type ExportLayout, type ExporterOptions } from './exporter.js';
export { shiftFacts, shiftWindow, type ShiftFacts, type ShiftWindow } from './shifts.js';
