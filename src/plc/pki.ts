import { readdirSync, renameSync, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { OPCUAClient, OPCUACertificateManager } from 'node-opcua';
import { StationError } from '../errors/index.js';

/**
 * A certificate store that trusts nobody by default: unknown peers are refused and their
 * certificates land in `rejected/`; moving one to `trusted/certs/` (by `station pki trust`, or by
 * hand) trusts it without a restart, and moving it back revokes it.
 *
 * node-opcua-pki keeps an in-memory index of the folders that its file watchers update, seconds
 * late on a loaded machine (30 s seen), so a trust or a revoke did not take effect at the next
 * connection. This store runs without those watchers: before each verification it compares the
 * folders' listing with the one it last read and re-reads them when they differ, so a change on
 * disk decides the next handshake. Sessions already open are not closed by a revoke.
 */
class FolderTrustStore extends OPCUACertificateManager {
  private seen = '';
  private reading: Promise<void> | null = null;

  /** The file names of the folders a verification reads: trusted and issuer certificates and their CRLs. */
  listing(): string {
    // Names, sizes and modification times: a CRL or a certificate replaced under the same name counts as a change.
    const names = (d: string) =>
      existsSync(d)
        ? readdirSync(d)
            .sort()
            .map((f) => {
              const st = statSync(path.join(d, f), { throwIfNoEntry: false });
              return `${f}:${st?.size ?? '-'}:${st?.mtimeMs ?? '-'}`;
            })
            .join('/')
        : '';
    return [this.trustedFolder, this.crlFolder, this.issuersCertFolder, this.issuersCrlFolder].map(names).join('|');
  }

  override async initialize(): Promise<void> {
    await super.initialize();
    this.seen = this.listing();
  }

  protected override async verifyCertificateAsync(...args: Parameters<OPCUACertificateManager['verifyCertificate']>) {
    for (let pass = 0; pass < 3 && this.listing() !== this.seen; pass++) {
      if (!this.reading) {
        const now = this.listing();
        this.reading = this.reloadCertificates().finally(() => {
          this.seen = now;
          this.reading = null;
        });
      }
      await this.reading;
    }
    return super.verifyCertificateAsync(args[0], args[1] ?? {});
  }
}

export async function certificateManager(dir: string): Promise<OPCUACertificateManager> {
  mkdirSync(dir, { recursive: true });
  const cm = new FolderTrustStore({
    rootFolder: dir,
    automaticallyAcceptUnknownCertificate: false,
    keySize: 2048,
    disableFileWatchers: true,
  });
  await cm.initialize();
  return cm;
}

export interface PkiEntry {
  state: 'trusted' | 'rejected';
  file: string;
}

function folders(dir: string) {
  return { trusted: path.join(dir, 'trusted', 'certs'), rejected: path.join(dir, 'rejected') };
}

/** Certificates a store trusts and has rejected (file names carry subject and thumbprint). */
export function listCertificates(dir: string): PkiEntry[] {
  const f = folders(dir);
  const read = (d: string, state: PkiEntry['state']) =>
    existsSync(d)
      ? readdirSync(d)
          .filter((x) => /\.(pem|der)$/i.test(x))
          .sort()
          .map((file) => ({ state, file }))
      : [];
  return [...read(f.trusted, 'trusted'), ...read(f.rejected, 'rejected')];
}

function move(dir: string, match: string, from: 'trusted' | 'rejected', to: 'trusted' | 'rejected'): string {
  const f = folders(dir);
  const candidates = listCertificates(dir).filter((e) => e.state === from && e.file.toLowerCase().includes(match.toLowerCase()));
  if (candidates.length !== 1) {
    throw new StationError(
      'STN_ERR_PKI_NOT_FOUND',
      candidates.length === 0
        ? `no ${from} certificate matches "${match}" in ${dir}`
        : `"${match}" matches ${candidates.length} ${from} certificates; be more specific`,
    );
  }
  mkdirSync(f[to], { recursive: true });
  renameSync(path.join(f[from], candidates[0].file), path.join(f[to], candidates[0].file));
  return candidates[0].file;
}

/** Moves a rejected certificate (matched by part of its file name or thumbprint) to trusted. */
export function trustCertificate(dir: string, match: string): string {
  return move(dir, match, 'rejected', 'trusted');
}

/** Moves a trusted certificate to rejected. */
export function rejectCertificate(dir: string, match: string): string {
  return move(dir, match, 'trusted', 'rejected');
}

/**
 * The station's client certificate (DER), created in its store if it has none yet: what an
 * administrator hands to the PLC to trust (and what the demo trusts explicitly).
 */
export async function clientCertificate(dir: string, applicationUri: string): Promise<Buffer> {
  const cm = await certificateManager(dir);
  try {
    const client = OPCUAClient.create({ applicationUri, applicationName: 'inspection-station', clientCertificateManager: cm });
    await client.createDefaultCertificate();
    return client.getCertificate();
  } finally {
    await cm.dispose();
  }
}

/**
 * Explicit mutual trust between the station's client store and a server's store: what an
 * administrator does once at commissioning (the demo and the tests do it for their simulator).
 */
export async function trustEachOther(stationPkiDir: string, applicationUri: string, serverPkiDir: string, serverCertificate: Buffer): Promise<void> {
  const der = await clientCertificate(stationPkiDir, applicationUri);
  const server = await certificateManager(serverPkiDir);
  await server.trustCertificate(der);
  await server.dispose();
  const station = await certificateManager(stationPkiDir);
  await station.trustCertificate(serverCertificate);
  await station.dispose();
}
