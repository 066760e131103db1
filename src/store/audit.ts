import pRetry from 'p-retry';
import { asStored, auditHash } from './chain.js';
import type { Db } from './db.js';
import { providerOf } from './provider.js';

type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

/**
 * Appends an entry to the audit log's chain: reads the head and writes the entry in one
 * transaction. On PostgreSQL, where several stations share the log, an advisory lock orders the
 * writers; on SQLite a writer whose view of the head went stale is refused (busy) and tries again.
 * Given a transaction (`tx`), the entry is part of it.
 */
export async function appendAudit(db: Db, entry: { actor: string; action: string; target: string; details: unknown }, tx?: Tx): Promise<void> {
  const write = async (t: Tx) => {
    if (providerOf(db) === 'postgresql') await t.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${AUDIT_LOCK})`);
    const head = await t.auditLog.findFirst({ orderBy: { id: 'desc' }, select: { hash: true } });
    const row = {
      at: new Date(),
      actor: entry.actor,
      action: entry.action,
      target: entry.target,
      details: asStored(entry.details) as object,
      prevHash: head?.hash ?? null,
    };
    await t.auditLog.create({ data: { ...row, hash: auditHash(row) } });
  };
  if (tx) return write(tx);
  await pRetry(() => db.$transaction(write), {
    retries: 8,
    minTimeout: 10,
    maxTimeout: 300,
    randomize: true,
    // Busy or a write conflict, or another writer linked to the same head first (P2002 on prevHash).
    shouldRetry: ({ error }) =>
      /SQLITE_BUSY|database is locked|P2034|P2002|TransactionWriteConflict/i.test(`${(error as { code?: string }).code ?? ''} ${error.message}`),
  });
}

/** The advisory lock key of the audit chain on PostgreSQL (any constant the station uses for nothing else). */
const AUDIT_LOCK = 190_419;
