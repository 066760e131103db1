import { useEffect, useState } from 'preact/hooks';
import { atThreshold, type OperatingPoint } from '../eval/metrics.js';
import { api, can, type Me } from './api.js';
import { ChartBox, curveTable } from './chart.js';

interface RecipeThresholds {
  default?: { minScore: number };
  classes?: Record<string, { minScore: number }>;
  anomalyScore?: number;
}
interface RecipeVersion {
  name: string;
  version: number;
  author: string;
  reason: string;
  createdAt: string;
  definition: { thresholds: RecipeThresholds };
}
interface EvalReportView {
  file: string;
  current: boolean;
  createdAt: string;
  dataset: { name: string; description?: string; good: number; defective: number; classes: Record<string, number> };
  summary: {
    images: number;
    imageAuroc: number | null;
    ap: number | null;
    f1: number | null;
    frrAtFullRecall: number | null;
    recallAt1pctFrr: number | null;
    pixelAuroc: number | null;
    perClassRecall: Record<string, number>;
    latencyMsP50: number;
  };
  curves: { roc: { fpr: number; tpr: number }[]; pr: { recall: number; precision: number }[] };
  operatingPoints: OperatingPoint[] | null;
}
interface ModelDocsView {
  name: string;
  version: string;
  family: string;
  sha256: string;
  labels: string[];
  card: { html: string } | null;
  reports: EvalReportView[];
  problems: string[];
}

/** The image-score threshold a recipe rejects at: anomaly models use anomalyScore, the rest the default minimum score. */
const isAnomaly = (family: string | undefined) => family?.startsWith('anomalib') ?? false;
const thresholdOf = (t: RecipeThresholds, family: string | undefined) => (isAnomaly(family) ? (t.anomalyScore ?? 0.5) : (t.default?.minScore ?? 0.5));
/** A version's thresholds in one line: the default (or anomaly) limit, then each class's own. */
function thresholdsText(th: RecipeThresholds): string {
  const parts = [th.anomalyScore !== undefined ? `anomaly ${th.anomalyScore}` : `default ${th.default?.minScore ?? 0.5}`];
  for (const [c, x] of Object.entries(th.classes ?? {})) parts.push(`${c} ${x.minScore}`);
  return parts.join(' · ');
}

/** A change to the line waiting for its "yes": applying a threshold, or rolling back to a version. */
type Pending =
  | { recipe: string; kind: 'apply'; value: number; current: number; reason: string; thresholds: RecipeThresholds }
  | { recipe: string; kind: 'rollback'; version: number; thresholds: RecipeThresholds };

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)} %`);

export function Recipes({ me }: { me: Me }) {
  const [recipes, setRecipes] = useState<RecipeVersion[]>([]);
  const [versions, setVersions] = useState<Record<string, RecipeVersion[]>>({});
  const [models, setModels] = useState<Record<string, ModelDocsView>>({});
  const [candidate, setCandidate] = useState<Record<string, number>>({});
  const [pending, setPending] = useState<Pending | null>(null);
  /** The confirmed change goes to the line; the form then shows what the line runs. */
  const confirm = async (p: Pending) => {
    setPending(null);
    try {
      if (p.kind === 'apply') {
        const res = await api<{ version: number }>('PUT', `/api/recipes/${encodeURIComponent(p.recipe)}/thresholds`, {
          thresholds: p.thresholds,
          reason: p.reason,
        });
        setMsg(`${p.recipe}: version ${res.version} is on the line`);
      } else {
        await api('POST', `/api/recipes/${encodeURIComponent(p.recipe)}/rollback`, { version: p.version });
        setMsg(`${p.recipe}: rolled back to version ${p.version}`);
      }
      // The proposal is spent: the form, the cost table and the curves show the line's threshold again.
      setCandidate(({ [p.recipe]: _spent, ...rest }) => rest);
      await load();
    } catch (err) {
      setMsg((err as Error).message);
    }
  };
  const [msg, setMsg] = useState('');
  const load = async () => {
    const r = await api<{ items: RecipeVersion[] }>('GET', '/api/recipes');
    setRecipes(r.items);
    const all: Record<string, RecipeVersion[]> = {};
    const docs: Record<string, ModelDocsView> = {};
    for (const x of r.items) {
      all[x.name] = (await api<{ items: RecipeVersion[] }>('GET', `/api/recipes/${encodeURIComponent(x.name)}/versions`)).items;
      // A recipe kept in the database but not on this line has no model to describe.
      docs[x.name] = await api<ModelDocsView>('GET', `/api/recipes/${encodeURIComponent(x.name)}/model`).catch(() => undefined as never);
    }
    setVersions(all);
    setModels(docs);
  };
  useEffect(() => void load(), []);
  return (
    <section>
      {msg && (
        <p class="note" role="status">
          {msg}
        </p>
      )}
      {recipes.map((r) => {
        const model = models[r.name];
        const current = thresholdOf(r.definition.thresholds, model?.family);
        const proposed = candidate[r.name] ?? current;
        return (
          <div class="recipe" data-recipe={r.name}>
            <h2>
              {r.name} <small class="muted">version {r.version}</small>
            </h2>
            <p>
              {isAnomaly(model?.family) ? 'Anomaly score limit' : 'Default minimum score'}: <b class="threshold">{current}</b>
              {Object.entries(r.definition.thresholds.classes ?? {}).map(([c, t]) => (
                <span>
                  {' '}
                  · {c} {t.minScore}
                </span>
              ))}
            </p>
            {can(me, 'integrator') && (
              <form
                onSubmit={(e) => {
                  e.preventDefault();
                  const f = new FormData(e.currentTarget as HTMLFormElement);
                  const value = Number(f.get('threshold'));
                  const t = r.definition.thresholds;
                  setPending({
                    recipe: r.name,
                    kind: 'apply',
                    value,
                    current,
                    reason: String(f.get('reason')),
                    thresholds: isAnomaly(model?.family) ? { ...t, anomalyScore: value } : { ...t, default: { ...(t.default ?? {}), minScore: value } },
                  });
                }}
              >
                <label>
                  {isAnomaly(model?.family) ? 'Anomaly score limit' : 'Default minimum score'}{' '}
                  <input
                    name="threshold"
                    type="number"
                    min="0"
                    max="1"
                    step="0.01"
                    value={proposed}
                    onInput={(e) => {
                      const v = Number((e.currentTarget as HTMLInputElement).value);
                      if (Number.isFinite(v)) setCandidate({ ...candidate, [r.name]: v });
                    }}
                  />
                </label>
                <label>
                  Reason <input name="reason" required minLength={3} />
                </label>
                <button type="submit">Apply to the line</button>
              </form>
            )}
            {pending?.recipe === r.name && (
              <div class="confirm" role="alertdialog" aria-labelledby={`confirm-${r.name}`} data-testid="confirm">
                <p id={`confirm-${r.name}`}>
                  {pending.kind === 'apply'
                    ? `Put ${pending.value} on the line for ${r.name} (it runs ${pending.current})? Every part from the next frame on is decided with it; the reason is recorded: “${pending.reason}”.`
                    : `Roll ${r.name} back to version ${pending.version} (${thresholdsText(pending.thresholds)}; it runs ${thresholdsText(r.definition.thresholds)})? Every part from the next frame on is decided with it.`}
                </p>
                <button type="button" class="primary" onClick={() => void confirm(pending)}>
                  {pending.kind === 'apply' ? 'Yes, apply' : 'Yes, roll back'}
                </button>
                <button type="button" onClick={() => setPending(null)}>
                  Cancel
                </button>
              </div>
            )}
            {model && <ModelPanel model={model} current={current} proposed={proposed} />}
            <table>
              <thead>
                <tr>
                  <th>version</th>
                  <th>when</th>
                  <th>who</th>
                  <th>why</th>
                  <th>thresholds</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {(versions[r.name] ?? []).map((v) => (
                  <tr>
                    <td>{v.version}</td>
                    <td>{new Date(v.createdAt).toLocaleString()}</td>
                    <td>{v.author}</td>
                    <td>{v.reason}</td>
                    <td data-testid="version-thresholds">{thresholdsText(v.definition.thresholds)}</td>
                    <td>
                      {can(me, 'integrator') && v.version !== r.version && (
                        <button
                          type="button"
                          onClick={() => setPending({ recipe: r.name, kind: 'rollback', version: v.version, thresholds: v.definition.thresholds })}
                        >
                          Roll back
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        );
      })}
    </section>
  );
}

/** The recipe's model: its card, and per saved evaluation what the current and the proposed threshold cost. */
function ModelPanel({ model, current, proposed }: { model: ModelDocsView; current: number; proposed: number }) {
  return (
    <div class="model">
      <h3>
        Model {model.name}{' '}
        <small class="muted">
          v{model.version} · {model.family} · {model.sha256.slice(0, 12)}
        </small>
      </h3>
      {model.problems.map((p) => (
        <p class="note">{p}</p>
      ))}
      {model.card && (
        <details class="card">
          <summary>Model card</summary>
          <div dangerouslySetInnerHTML={{ __html: model.card.html }} />
        </details>
      )}
      {model.reports.length === 0 && (
        <p class="muted">
          No saved evaluation: run <code>station eval DIR --model FILE --report FILE.json</code> and list the file in the manifest's <code>reports</code>.
        </p>
      )}
      {model.reports.map((rep) => (
        <EvalView rep={rep} current={current} proposed={proposed} />
      ))}
    </div>
  );
}

function EvalView({ rep, current, proposed }: { rep: EvalReportView; current: number; proposed: number }) {
  const s = rep.summary;
  const now = rep.operatingPoints ? atThreshold(rep.operatingPoints, current) : null;
  const then = rep.operatingPoints ? atThreshold(rep.operatingPoints, proposed) : null;
  const cost = (label: string, t: number, p: typeof now) =>
    p && (
      <tr>
        <th>
          {label} {t}
        </th>
        <td>
          {pct(p.recall)}{' '}
          <small class="muted">
            ({p.caught}/{rep.dataset.defective})
          </small>
        </td>
        <td>
          {pct(p.frr)}{' '}
          <small class="muted">
            ({p.falseRejects}/{rep.dataset.good})
          </small>
        </td>
        <td>{rep.dataset.defective - p.caught}</td>
      </tr>
    );
  const marks = [
    now && { x: now.frr, y: now.recall, label: `now ${current}` },
    then && proposed !== current && { x: then.frr, y: then.recall, label: `proposed ${proposed}` },
  ].filter(Boolean) as { x: number; y: number; label: string }[];
  return (
    <div class="eval">
      <h4>
        Evaluation on {rep.dataset.description ?? rep.dataset.name}{' '}
        <small class="muted">
          {rep.dataset.good} good, {rep.dataset.defective} defective · {new Date(rep.createdAt).toLocaleDateString()}
        </small>
      </h4>
      {!rep.current && <p class="note">This evaluation was made for another build of the model (checksum differs).</p>}
      <table class="metrics">
        <tbody>
          <tr>
            <th>image AUROC</th>
            <td>{s.imageAuroc ?? '–'}</td>
            <th>average precision</th>
            <td>{s.ap ?? '–'}</td>
            <th>pixel AUROC</th>
            <td>{s.pixelAuroc ?? '–'}</td>
          </tr>
          <tr>
            <th>false rejects at zero escapes</th>
            <td>{pct(s.frrAtFullRecall)}</td>
            <th>recall at 1 % false rejects</th>
            <td>{pct(s.recallAt1pctFrr)}</td>
            <th>latency p50</th>
            <td>{s.latencyMsP50} ms</td>
          </tr>
        </tbody>
      </table>
      <table class="cost">
        <thead>
          <tr>
            <th>threshold</th>
            <th>defects caught</th>
            <th>good parts rejected</th>
            <th>escapes</th>
          </tr>
        </thead>
        <tbody>
          {cost('current', current, now)}
          {proposed !== current && cost('proposed', proposed, then)}
        </tbody>
      </table>
      <div class="curves">
        <ChartBox
          title="ROC curve: recall against false-reject rate, with the current and proposed operating points"
          file={`roc-${rep.dataset.name}`}
          table={curveTable(
            'false-reject rate',
            'recall',
            rep.curves.roc.map((p) => ({ x: p.fpr, y: p.tpr })),
          )}
          config={{
            type: 'line',
            data: {
              datasets: [
                { label: 'ROC', data: rep.curves.roc.map((p) => ({ x: p.fpr, y: p.tpr })), borderColor: '#1f77b4', pointRadius: 0, stepped: 'after' },
                {
                  label: 'operating point',
                  data: marks.map((m) => ({ x: m.x, y: m.y })),
                  showLine: false,
                  pointRadius: 6,
                  backgroundColor: ['#2a9d8f', '#e76f51'],
                  borderColor: ['#2a9d8f', '#e76f51'],
                },
              ],
            },
            options: {
              animation: false,
              scales: {
                x: { type: 'linear', min: 0, max: 1, title: { display: true, text: 'false-reject rate' } },
                y: { min: 0, max: 1, title: { display: true, text: 'recall' } },
              },
            },
          }}
        />
        <ChartBox
          title="precision against recall"
          file={`pr-${rep.dataset.name}`}
          table={curveTable(
            'recall',
            'precision',
            rep.curves.pr.map((p) => ({ x: p.recall, y: p.precision })),
          )}
          config={{
            type: 'line',
            data: {
              datasets: [
                {
                  label: 'precision–recall',
                  data: rep.curves.pr.map((p) => ({ x: p.recall, y: p.precision })),
                  borderColor: '#d62728',
                  pointRadius: 0,
                  stepped: 'before',
                },
              ],
            },
            options: {
              animation: false,
              scales: {
                x: { type: 'linear', min: 0, max: 1, title: { display: true, text: 'recall' } },
                y: { min: 0, max: 1, title: { display: true, text: 'precision' } },
              },
            },
          }}
        />
      </div>
      {Object.keys(s.perClassRecall).length > 0 && (
        <p class="muted">
          Recall per class at the evaluated recipe:{' '}
          {Object.entries(s.perClassRecall)
            .map(([c, v]) => `${c} ${pct(v)}`)
            .join(' · ')}
        </p>
      )}
    </div>
  );
}
