/**
 * node-opcua prints its warnings and errors with console.log, i.e. on stdout, where the
 * station's machine-readable output goes (replay JSON lines, demo and bench summaries). Route
 * them to stderr. Imported before anything else from node-opcua.
 */
import { setErrorLogger, setWarningLogger } from 'node-opcua-debug';

/**
 * NODE-OPCUA-W27 says that RSA PKCS#1 v1.5 decryption is off on this Node release (CVE-2023-46809)
 * and suggests `--security-revert`. Only the deprecated policies Basic128Rsa15 and Basic256 need
 * it; the station allows Basic256Sha256 and Aes128_Sha256_RsaOaep only (RSA-OAEP), so nobody
 * can or should act on it: it is not printed. Nor is the client's "Creating default certificate
 * ... please wait" on a first start (`station pki list` shows the certificate).
 */
const IRRELEVANT = /NODE-OPCUA-W27|--security-revert=CVE-2023-46809|Creating default certificate \.\.\. please wait/;
let droppingW27 = false;

const toStderr = (...args: unknown[]): void => {
  const text = args
    .filter((a) => typeof a !== 'object')
    .map(String)
    .join(' ');
  // W27 comes as two calls: the tag with the Node version, then the advice.
  if (IRRELEVANT.test(text) || (droppingW27 && text.trimStart().startsWith('you need to use node flag'))) {
    droppingW27 = /NODE-OPCUA-W27/.test(text);
    return;
  }
  droppingW27 = false;
  process.stderr.write(`node-opcua: ${text}\n`);
};
setWarningLogger(toStderr);
setErrorLogger(toStderr);
