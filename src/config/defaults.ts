import { syntheticCodeRegion } from '../capture/index.js';
import { SHIPPED_MODEL } from '../paths.js';
import { validateConfig, type LoadedConfig } from './load.js';

export interface DemoOptions {
  dataDir: string;
  port: number;
  host: string;
  rate: number;
  seed?: number;
  defectRate?: number;
  /** The line simulator the demo starts: the camera is then triggered by its PartSeq. */
  plc?: { endpoint: string; username: string; password: string };
  /** A real camera instead of the synthetic one (any source URI), through the same recipe. */
  source?: string;
  /** The plant's MQTT broker for results and state (Unified Namespace); absent: none. */
  mqtt?: string;
  /**
   * The run tag of the serials the synthetic parts carry as DataMatrix labels: the simulated
   * PLC's own (its PartId for part n is the label printed on part n). The plate recipe reads them.
   */
  serials?: string;
}

/**
 * The embedded configuration `station demo` runs on: the synthetic line, the shipped model and a
 * recipe tuned on the model card's held-out set.
 */
export function demoConfig(o: DemoOptions): LoadedConfig {
  return validateConfig(
    {
      station: { id: 'demo-1', name: 'Demo station', line: 'demo-line', area: 'demo-area', site: 'demo-site' },
      http: { host: o.host, port: o.port },
      storage: { dataDir: o.dataDir },
      line: {},
      ...(o.mqtt ? { mqtt: { url: o.mqtt } } : {}),
      // The simulated PLC gives each part its serial, lot and recipe number (written before PartSeq).
      ...(o.plc
        ? {
            plc: {
              endpoint: o.plc.endpoint,
              user: { username: o.plc.username, password: o.plc.password },
              tags: { PartId: 'Line/PartId', Lot: 'Line/Lot', RecipeSelect: 'Line/RecipeSelect' },
            },
          }
        : {}),
      sources: [
        {
          name: 'line',
          uri:
            o.source ??
            (o.plc
              ? `synthetic:?seed=${o.seed ?? 42}&defectRate=${o.defectRate ?? 0.2}&trigger=plc${printedSerials(o).uri}`
              : `synthetic:?seed=${o.seed ?? 42}&defectRate=${o.defectRate ?? 0.2}&rate=${o.rate}${printedSerials(o).uri}`),
          recipe: 'plate',
        },
      ],
      recipes: { plate: { ...plateRecipe(SHIPPED_MODEL), number: 1, ...printedSerials(o).recipe } },
    },
    process.cwd(),
  );
}

/** The synthetic line's URI parameter and the plate recipe's code: the serial labels, unless a real camera is used. */
function printedSerials(o: DemoOptions) {
  if (o.source || !o.serials) return { uri: '', recipe: {} };
  return {
    uri: `&serials=${o.serials}`,
    recipe: { code: { symbology: 'DataMatrix', region: syntheticCodeRegion(), noRead: 'reject', matchPartId: true } },
  };
}

/** The shipped plate recipe; thresholds from models/plate-defects.md. */
export function plateRecipe(model: string) {
  return {
    model,
    thresholds: {
      default: { minScore: 0.5, minArea: 0, maxCount: 0 },
    },
    keepGood: 0.05,
    nmsIou: 0.5,
  };
}
