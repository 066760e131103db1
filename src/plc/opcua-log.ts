/**
 * node-opcua prints its warnings and errors with console.log, i.e. on stdout, where the
 * station's machine-readable output goes (replay JSON lines, demo and bench summaries). Route
 * them to stderr. Imported before anything else from node-opcua.
 */
import { setErrorLogger, setWarningLogger } from 'node-opcua-debug';

const toStderr = (...args: unknown[]): void => {
  process.stderr.write(
    `node-opcua: ${args
      .filter((a) => typeof a !== 'object')
      .map(String)
      .join(' ')}\n`,
  );
};
setWarningLogger(toStderr);
setErrorLogger(toStderr);
