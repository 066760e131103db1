import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (models/, prisma/), whether running from src/ or dist/. */
export const PACKAGE_ROOT = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
export const SHIPPED_MODEL = path.join(PACKAGE_ROOT, 'models', 'plate-defects.onnx');
export const PRISMA_DIR = path.join(PACKAGE_ROOT, 'prisma');
