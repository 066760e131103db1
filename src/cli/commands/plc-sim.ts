import path from 'node:path';
import type { Command } from 'commander';
import { int, num, untilStopped } from '../shared.js';

/** `station plc-sim`: the line simulator alone. */
export function register(program: Command): void {
  program
    .command('plc-sim')
    .description('the line simulator alone: an OPC UA server playing the conveyor PLC with a reject gate')
    .option('--port <port>', 'OPC UA port', int('port'), 4840)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--rate <partsPerS>', 'parts per second', num('rate', 0.01), 10)
    .option('--travel-ms <ms>', 'camera → gate travel time', int('travel-ms', 1), 800)
    .option('--seed <n>', "synthetic line seed (the station's camera must use the same)", int('seed'), 42)
    .option('--defect-rate <p>', 'fraction of defective parts', num('defect-rate'), 0.2)
    .option('--pki <dir>', 'certificate store', './data/pki/plc-sim')
    .option('--user <name>', 'the one user allowed in', 'station')
    .action(async (o) => {
      const { LineSimulator } = await import('../../plc/index.js');
      const password = process.env.PLC_SIM_PASSWORD || LineSimulator.generatePassword();
      const sim = new LineSimulator({
        port: o.port,
        host: o.host,
        rate: o.rate,
        travelMs: o.travelMs,
        seed: o.seed,
        defectRate: o.defectRate,
        pkiDir: path.resolve(o.pki),
        users: [{ username: o.user, password }],
      });
      await sim.start();
      sim.startConveyor();
      process.stderr.write(
        `line simulator: ${sim.endpointUrl} (SignAndEncrypt; user "${o.user}"${process.env.PLC_SIM_PASSWORD ? ', password from PLC_SIM_PASSWORD' : `, password ${password}`})\n`,
      );
      process.stderr.write(
        `trust a station once it has tried to connect: station pki trust inspection-station --dir ${sim.serverCertificateDir} (it moves the certificate from rejected/ to trusted/certs; station pki list --dir ${sim.serverCertificateDir} shows them)\n`,
      );
      const ticker = setInterval(() => process.stderr.write(`${JSON.stringify(sim.counters)}\n`), 5000);
      await untilStopped();
      clearInterval(ticker);
      await sim.drain();
      await sim.stop();
      process.stdout.write(JSON.stringify(sim.counters) + '\n');
    });
}
