// First: route node-opcua's console output to stderr before any of it loads.
import './opcua-log.js';

export * from './tags.js';
export {
  RejectGate,
  type GateLog,
  type GateOptions,
  type GateCounters,
  type GateState,
  type GateUser,
  type SecurityModeName,
  type SecurityPolicyName,
} from './gate.js';
export { LineSimulator, type SimulatedIdentity, type SimulatorOptions, type GateCounters as SimulatorCounters } from './simulator.js';
export { certificateManager, clientCertificate, trustEachOther, listCertificates, trustCertificate, rejectCertificate, type PkiEntry } from './pki.js';
export { StationServer, STATION_NAMESPACE_URI, type StationServerOptions } from './station-server.js';
export { partIdentity } from './identity.js';
