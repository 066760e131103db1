import path from 'node:path';
import type { Command } from 'commander';

/** `station pki list|trust|reject`: the station's OPC UA certificate store. */
export function register(program: Command): void {
  const pki = program.command('pki').description("the station's OPC UA certificate store: nobody is trusted until you say so");
  pki
    .command('list')
    .option('--dir <dir>', 'certificate store', './data/pki/station')
    .action(async (o) => {
      const { listCertificates } = await import('../../plc/index.js');
      for (const e of listCertificates(path.resolve(o.dir))) process.stdout.write(`${e.state}\t${e.file}\n`);
    });
  pki
    .command('trust')
    .argument('<match>', 'part of the certificate file name or thumbprint, as listed')
    .option('--dir <dir>', 'certificate store', './data/pki/station')
    .action(async (match: string, o) => {
      const { trustCertificate } = await import('../../plc/index.js');
      process.stdout.write(`trusted ${trustCertificate(path.resolve(o.dir), match)}\n`);
    });
  pki
    .command('reject')
    .argument('<match>', 'part of the certificate file name or thumbprint, as listed')
    .option('--dir <dir>', 'certificate store', './data/pki/station')
    .action(async (match: string, o) => {
      const { rejectCertificate } = await import('../../plc/index.js');
      process.stdout.write(`rejected ${rejectCertificate(path.resolve(o.dir), match)}\n`);
    });
}
