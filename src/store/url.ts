import path from 'node:path';
import { StationError } from '../errors/index.js';

export type DatabaseTarget = { provider: 'sqlite'; file: string } | { provider: 'postgresql'; url: string };

/** `file:./data/station.db` (relative to the working directory, as Prisma reads it) or `postgresql://…`. */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (url.startsWith('file:')) {
    const p = url.slice(5).split('?')[0];
    if (!p) throw new StationError('STN_ERR_STORE_URL', `${url}: no file name`);
    return { provider: 'sqlite', file: path.resolve(p) };
  }
  if (/^postgres(ql)?:\/\//.test(url)) return { provider: 'postgresql', url };
  throw new StationError('STN_ERR_STORE_URL', `DATABASE_URL "${redact(url)}" is neither file:... nor postgresql://...`);
}

/** A URL for messages: the password never appears in a log. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}
