import path from 'node:path';
import type { LoadedConfig } from '../config/index.js';
import { StationError } from '../errors/index.js';
import type { GateUser } from '../plc/index.js';

/** Every secret the configuration names, read from the environment before anything starts. */
export interface StationSecrets {
  /** The PLC client's identity (null without a PLC). */
  plcUser: GateUser | null;
  /** The station's OPC UA server users with their passwords. */
  opcuaUsers: { username: string; password: string }[];
  /** The MQTT broker password (undefined when none is configured). */
  mqttPassword: string | undefined;
}

/**
 * Resolves the passwords the configuration names by environment variable (`plc.user.passwordEnv`,
 * `opcua.users[].passwordEnv`, `mqtt.passwordEnv`). A missing one is a configuration error with
 * its key path, raised before the database opens or a thread starts.
 */
export function resolveSecrets(config: LoadedConfig, env: Record<string, string | undefined>): StationSecrets {
  const missing = (key: string, name: string) => new StationError('STN_ERR_CONFIG_INVALID', `${key}: the environment variable ${name} is not set`);
  let plcUser: GateUser | null = null;
  if (config.plc) {
    const u = config.plc.user;
    if ('anonymous' in u) plcUser = { type: 'anonymous' };
    else if ('certificate' in u)
      plcUser = {
        type: 'certificate',
        certificateFile: path.resolve(config.baseDir, u.certificate),
        privateKeyFile: path.resolve(config.baseDir, u.privateKey),
      };
    else {
      const password = u.passwordEnv ? env[u.passwordEnv] : u.password;
      if (password === undefined) {
        if (u.passwordEnv) throw missing('plc.user.passwordEnv', u.passwordEnv);
        throw new StationError('STN_ERR_CONFIG_INVALID', 'plc.user: set the password in passwordEnv or password');
      }
      plcUser = { type: 'username', username: u.username, password };
    }
  }
  const opcuaUsers = (config.opcua?.users ?? []).map((u, i) => {
    const password = env[u.passwordEnv];
    if (!password) throw missing(`opcua.users.${i}.passwordEnv`, u.passwordEnv);
    return { username: u.username, password };
  });
  const m = config.mqtt;
  const mqttPassword = m?.passwordEnv ? env[m.passwordEnv] : undefined;
  if (m?.passwordEnv && mqttPassword === undefined) throw missing('mqtt.passwordEnv', m.passwordEnv);
  return { plcUser, opcuaUsers, mqttPassword };
}
