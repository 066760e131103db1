/**
 * What-if: move a threshold, see what it would have done to the stored parts (flips, escapes,
 * false rejects against reviews), ask for a suggestion, apply it through the audited recipe API;
 * and compare a candidate model on the stored images (re-inference).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, can, type Me } from './api.js';
import { ChartBox, curveTable } from './chart.js';

interface Rule {
  minScore: number;
  minArea?: number;
  maxCount?: number;
}
interface Thresholds {
  default?: Rule;
  classes?: Record<string, Rule>;
  anomalyScore?: number;
  anomalyPixel?: number;
  anomalyMinArea?: number;
  goodClasses?: string[];
}
interface RecipeView {
  name: string;
  version: number;
  labels: string[];
  definition: { thresholds: Thresholds };
}
interface Flip {
  id: number;
  capturedAt: string;
  now: string;
  candidate: string;
  maxScore: number;
  label: string | null;
  thumb: boolean;
}
interface Result {
  inspections: number;
  flips: number;
  flipsToFail: number;
  flipsToPass: number;
  rejectRateNow: number | null;
  rejectRateCandidate: number | null;
  labelled: { total: number; defective: number; good: number; fromReviews: number; fromTruth: number };
  escapesNow: number;
  escapesCandidate: number;
  falseRejectsNow: number;
  falseRejectsCandidate: number;
  flipped: Flip[];
  elapsedMs: number;
}
interface ClassSuggestion {
  class: string;
  threshold: number;
  current: number;
  defective: number;
  caught: number;
  unreachable: number;
  goodRejected: number;
  kept: boolean;
  curve: { threshold: number; caught: number; goodRejected: number }[];
}
interface JobView {
  id: string;
  state: 'running' | 'done' | 'failed' | 'cancelled';
  total: number;
  done: number;
  share: number;
  elapsedMs: number;
  etaMs: number | null;
  result?: Result;
  error?: { code: string; message: string };
}
interface Suggestion {
  thresholds: Thresholds;
  classes: ClassSuggestion[];
  result: Result;
  curve: { recallTarget: number; recall: number | null; falseRejectRate: number | null; escapes: number; falseRejects: number }[];
}

const FLOOR = 0.1;
const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(2)} %`);
const RANGES: Record<string, number | null> = { 'last 24 hours': 1, 'last 7 days': 7, 'last 30 days': 30, 'all time': null };

/** The slider values as thresholds: each class's minimum score over the recipe's own rules. */
function candidateOf(base: Thresholds, anomaly: boolean, values: Record<string, number>): Thresholds {
  if (anomaly) return { ...base, anomalyScore: values.anomaly };
  const classes: Record<string, Rule> = { ...(base.classes ?? {}) };
  for (const [c, v] of Object.entries(values)) classes[c] = { ...(base.classes?.[c] ?? base.default ?? { minScore: 0.5 }), minScore: v };
  return { ...base, classes };
}

export function WhatIf({ me }: { me: Me }) {
  const [recipes, setRecipes] = useState<string[]>([]);
  const [name, setName] = useState('');
  const [recipe, setRecipe] = useState<RecipeView | null>(null);
  const [family, setFamily] = useState('');
  const [range, setRange] = useState('last 7 days');
  const [stations, setStations] = useState<{ id: string; line: string }[]>([]);
  const [scope, setScope] = useState('');
  useEffect(() => void api<{ items: { id: string; line: string }[] }>('GET', '/api/stations').then((r) => setStations(r.items)), []);
  /** "" every station, or one station, or every station of a line. */
  const scoped = () => (scope.startsWith('line:') ? { line: scope.slice(5) } : scope.startsWith('station:') ? { station: scope.slice(8) } : {});
  const [values, setValues] = useState<Record<string, number>>({});
  const [result, setResult] = useState<Result | null>(null);
  const [suggestion, setSuggestion] = useState<Suggestion | null>(null);
  const [msg, setMsg] = useState('');
  /** A window too large to answer at once: its request, to run as a job, and the job's progress. */
  const [large, setLarge] = useState<object | null>(null);
  const [job, setJob] = useState<JobView | null>(null);
  const seq = useRef(0);
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const anomaly = family.startsWith('anomalib');

  useEffect(
    () =>
      void api<{ items: { name: string }[] }>('GET', '/api/recipes').then((r) => {
        setRecipes(r.items.map((x) => x.name));
        if (r.items[0]) setName(r.items[0].name);
      }),
    [],
  );
  const reset = (r: RecipeView, fam: string) => {
    const t = r.definition.thresholds;
    setValues(
      fam.startsWith('anomalib')
        ? { anomaly: t.anomalyScore ?? 0.5 }
        : Object.fromEntries(r.labels.map((l) => [l, t.classes?.[l]?.minScore ?? t.default?.minScore ?? 0.5])),
    );
  };
  const loadRecipe = async () => {
    if (!name) return;
    const r = await api<RecipeView>('GET', `/api/recipes/${encodeURIComponent(name)}`);
    const fam = (await api<{ family: string }>('GET', `/api/recipes/${encodeURIComponent(name)}/model`).catch(() => ({ family: '' }))).family;
    setRecipe(r);
    setFamily(fam);
    setSuggestion(null);
    reset(r, fam);
  };
  useEffect(() => void loadRecipe(), [name]);

  // Each slider move asks again (debounced); only the newest answer is shown.
  useEffect(() => {
    if (!recipe || Object.keys(values).length === 0) return;
    const n = ++seq.current;
    const timer = setTimeout(async () => {
      const days = RANGES[range];
      const body = {
        recipe: recipe.name,
        thresholds: candidateOf(recipe.definition.thresholds, anomaly, values),
        flips: 60,
        ...scoped(),
        ...(days ? { from: new Date(Date.now() - days * 86400_000).toISOString() } : {}),
      };
      try {
        const r = await api<Result>('POST', '/api/whatif', body);
        if (n === seq.current) {
          setResult(r);
          setLarge(null);
        }
      } catch (err) {
        if (n !== seq.current) return;
        setMsg((err as Error).message);
        setLarge(err instanceof ApiError && err.code === 'STN_ERR_WHATIF_LARGE' ? body : null);
      }
    }, 250);
    return () => clearTimeout(timer);
  }, [recipe, values, range, scope]);

  /** Runs the large window as a job, polling its progress once a second until it ends. */
  const runJob = async () => {
    if (!large) return;
    // A slider moved, another window chosen or the page left while it ran: its answer is not for
    // what is shown any more, so it is cancelled and dropped.
    const n = seq.current;
    const stale = () => seq.current !== n || !mounted.current;
    try {
      let j = await api<JobView>('POST', '/api/whatif/jobs', large);
      setJob(j);
      while (j.state === 'running') {
        await new Promise((r) => setTimeout(r, 1000));
        if (stale()) {
          await api('POST', `/api/whatif/jobs/${j.id}/cancel`).catch(() => undefined);
          if (mounted.current) setJob(null);
          return;
        }
        j = await api<JobView>('GET', `/api/whatif/jobs/${j.id}`);
        setJob(j);
      }
      if (stale()) return;
      if (j.result) {
        setResult(j.result);
        setMsg(`${j.total} parts re-decided in ${(j.elapsedMs / 1000).toFixed(1)} s`);
        setLarge(null);
      } else setMsg(j.error?.message ?? j.state);
    } catch (err) {
      setMsg((err as Error).message);
    }
  };
  const cancelJob = async () => {
    if (job) setJob(await api<JobView>('POST', `/api/whatif/jobs/${job.id}/cancel`));
  };

  const suggest = async (target: object) => {
    try {
      const days = RANGES[range];
      const s = await api<Suggestion>('POST', '/api/whatif/suggest', {
        recipe: name,
        target,
        ...scoped(),
        ...(days ? { from: new Date(Date.now() - days * 86400_000).toISOString() } : {}),
      });
      setSuggestion(s);
      setValues(
        anomaly
          ? { anomaly: s.thresholds.anomalyScore ?? 0.5 }
          : Object.fromEntries(Object.keys(values).map((c) => [c, s.thresholds.classes?.[c]?.minScore ?? values[c]])),
      );
      setMsg(`suggested from ${s.result.labelled.total} labelled parts (${s.result.labelled.fromReviews} reviewed)`);
    } catch (err) {
      setMsg((err as Error).message);
    }
  };

  if (!recipe) return <p class="muted">No recipe yet.</p>;
  const changed =
    recipe &&
    Object.entries(values).some(
      ([c, v]) =>
        v !==
        (anomaly
          ? (recipe.definition.thresholds.anomalyScore ?? 0.5)
          : (recipe.definition.thresholds.classes?.[c]?.minScore ?? recipe.definition.thresholds.default?.minScore ?? 0.5)),
    );
  return (
    <section class="whatif">
      <h2>What-if: a threshold change on the stored history</h2>
      <div class="filters">
        <label>
          Recipe{' '}
          <select value={name} onChange={(e) => setName((e.target as HTMLSelectElement).value)}>
            {recipes.map((r) => (
              <option>{r}</option>
            ))}
          </select>
        </label>
        {stations.length > 1 && (
          <label>
            Stations{' '}
            <select value={scope} onChange={(e) => setScope((e.target as HTMLSelectElement).value)}>
              <option value="">all</option>
              {[...new Set(stations.map((st) => st.line).filter(Boolean))].map((l) => (
                <option value={`line:${l}`}>line {l}</option>
              ))}
              {stations.map((st) => (
                <option value={`station:${st.id}`}>{st.id}</option>
              ))}
            </select>
          </label>
        )}
        <label>
          Parts from{' '}
          <select value={range} onChange={(e) => setRange((e.target as HTMLSelectElement).value)}>
            {Object.keys(RANGES).map((r) => (
              <option>{r}</option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => reset(recipe, family)}>
          Back to version {recipe.version}
        </button>
        <button type="button" onClick={() => void suggest({ escapes: 0 })}>
          Suggest: zero escapes
        </button>
        <button type="button" onClick={() => void suggest({ recall: 0.99 })}>
          Suggest: 99 % recall
        </button>
      </div>
      {msg && (
        <p class="note" role="status">
          {msg}
        </p>
      )}
      {large && job?.state !== 'running' && (
        <button type="button" data-testid="run-job" onClick={() => void runJob()}>
          Run it as a job
        </button>
      )}
      {job?.state === 'running' && (
        <p class="job" data-testid="whatif-job">
          <progress max={1} value={job.share} /> {job.done} of {job.total} parts
          {job.etaMs !== null ? ` · ${Math.ceil(job.etaMs / 1000)} s left` : ''}{' '}
          <button type="button" onClick={() => void cancelJob()}>
            Cancel
          </button>
        </p>
      )}
      <div class="sliders">
        {Object.entries(values).map(([c, v]) => (
          <label class="slider">
            <span>{anomaly ? 'anomaly score' : c}</span>
            <input
              type="range"
              min={anomaly ? 0 : FLOOR}
              max="1"
              step="0.01"
              value={v}
              aria-label={`threshold ${c}`}
              onInput={(e) => setValues({ ...values, [c]: Number((e.currentTarget as HTMLInputElement).value) })}
            />
            <b>{v.toFixed(2)}</b>
          </label>
        ))}
      </div>
      {result && (
        <table class="metrics" data-testid="whatif-result">
          <tbody>
            <tr>
              <th>inspections</th>
              <td>{result.inspections}</td>
              <th>parts that flip</th>
              <td data-testid="flips">{result.flips}</td>
              <td class="muted">
                {result.flipsToFail} pass → fail · {result.flipsToPass} fail → pass
              </td>
            </tr>
            <tr>
              <th>reject rate</th>
              <td colSpan={4}>
                {pct(result.rejectRateNow)} → <b>{pct(result.rejectRateCandidate)}</b>
              </td>
            </tr>
            <tr>
              <th>escapes</th>
              <td colSpan={4}>
                {result.escapesNow} → <b data-testid="escapes">{result.escapesCandidate}</b>{' '}
                <span class="muted">of {result.labelled.defective} labelled defective</span>
              </td>
            </tr>
            <tr>
              <th>false rejects</th>
              <td colSpan={4}>
                {result.falseRejectsNow} → <b data-testid="false-rejects">{result.falseRejectsCandidate}</b>{' '}
                <span class="muted">
                  of {result.labelled.good} labelled good ({result.labelled.fromReviews} reviewed, {result.labelled.fromTruth} from the source's ground truth)
                </span>
              </td>
            </tr>
          </tbody>
        </table>
      )}
      {can(me, 'integrator') && (
        <form
          class="apply"
          onSubmit={async (e) => {
            e.preventDefault();
            const reason = String(new FormData(e.currentTarget as HTMLFormElement).get('reason'));
            try {
              const r = await api<{ version: number }>('PUT', `/api/recipes/${encodeURIComponent(recipe.name)}/thresholds`, {
                thresholds: candidateOf(recipe.definition.thresholds, anomaly, values),
                reason,
                // Exactly what the what-if replayed, nothing merged in.
                mode: 'replace',
              });
              setMsg(`${recipe.name}: version ${r.version} is on the line`);
              await loadRecipe();
            } catch (err) {
              setMsg((err as Error).message);
            }
          }}
        >
          <label>
            Reason <input name="reason" required minLength={3} placeholder="what-if: fewer false rejects on …" />
          </label>
          <button type="submit" disabled={!changed}>
            Apply to the line
          </button>
        </form>
      )}
      {suggestion && <SuggestionView s={suggestion} />}
      {result && result.flipped.length > 0 && (
        <>
          <h3>
            Parts that would flip <small class="muted">newest {result.flipped.length}</small>
          </h3>
          <div class="grid">
            {result.flipped.map((f) => (
              <a class={`card ${f.candidate}`} href={`#/inspection/${f.id}`} data-testid="flip">
                {f.thumb ? (
                  <img src={`/api/inspections/${f.id}/image?variant=thumb`} alt={`inspection ${f.id}`} loading="lazy" />
                ) : (
                  <div class="noimg">no image</div>
                )}
                <span>
                  {f.now} → {f.candidate} · {f.maxScore.toFixed(2)}
                  {f.label ? ` · ${f.label}` : ''}
                </span>
              </a>
            ))}
          </div>
        </>
      )}
      <Reinference me={me} recipe={recipe.name} />
    </section>
  );
}

function SuggestionView({ s }: { s: Suggestion }) {
  return (
    <div class="suggestion">
      <h3>Suggested thresholds</h3>
      <table>
        <thead>
          <tr>
            <th>class</th>
            <th>now</th>
            <th>suggested</th>
            <th>defects caught</th>
            <th>good parts it rejects</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {s.classes.map((c) => (
            <tr>
              <td>{c.class}</td>
              <td>{c.current}</td>
              <td>
                <b>{c.threshold}</b>
              </td>
              <td>
                {c.caught}/{c.defective}
                {c.unreachable ? ` (${c.unreachable} never seen)` : ''}
              </td>
              <td>{c.goodRejected}</td>
              <td class="muted">{c.kept ? 'kept: no labelled defect' : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="curves">
        <ChartBox
          title="recall against false-reject rate, per-class recall target 0.8 to 1"
          file="suggest-curve"
          table={curveTable(
            'false-reject rate',
            'recall',
            s.curve.map((p) => ({ x: p.falseRejectRate, y: p.recall })),
          )}
          config={{
            type: 'line',
            data: {
              datasets: [
                {
                  label: 'recall vs false-reject rate (per-class recall target 0.8 … 1)',
                  data: s.curve.map((p) => ({ x: p.falseRejectRate, y: p.recall })),
                  borderColor: '#1f77b4',
                },
              ],
            },
            options: {
              animation: false,
              scales: {
                x: { type: 'linear', min: 0, title: { display: true, text: 'false-reject rate' } },
                y: { max: 1, title: { display: true, text: 'recall' } },
              },
            },
          }}
        />
      </div>
    </div>
  );
}

interface Job {
  id: number;
  state: string;
  total: number;
  done: number;
  error: string | null;
  candidate: { model: string; resize?: string };
  createdAt: string;
  comparison?: Comparison | null;
}
interface Comparison {
  parts: number;
  disagree: number;
  candidateRejects: number;
  candidatePasses: number;
  rejectRateProduction: number | null;
  rejectRateCandidate: number | null;
  escapesProduction: number;
  escapesCandidate: number;
  falseRejectsProduction: number;
  falseRejectsCandidate: number;
  processingMsP50: { production: number | null; candidate: number | null };
}
interface PairDefect {
  class: string;
  score: number;
  box?: number[] | null;
}
interface PartPair {
  inspectionId: number;
  imageSize: [number, number] | null;
  production: { verdict: string; maxScore: number; defects: PairDefect[] };
  candidate: { verdict: string; maxScore: number; defects: PairDefect[] };
  label: string | null;
  thumb: boolean;
}
interface CandidateModel {
  file: string;
  name: string;
  family: string;
  labels: string[];
  usedBy: string[];
  problem?: string;
}

/**
 * Why a candidate may not fit the recipe's parts: not the recipe's model, another family, or no
 * class in common with it (a model trained on other parts rejects or passes everything, and the
 * comparison then measures nothing). Null when it is the recipe's own model.
 */
export function mismatchOf(candidate: CandidateModel | undefined, own: CandidateModel | undefined, recipe: string): string | null {
  if (!candidate || !own || candidate.file === own.file) return null;
  const common = candidate.labels.filter((l) => own.labels.includes(l));
  const why = [`${candidate.name} (${candidate.file}) is not recipe ${recipe}'s model (${own.name})`];
  if (candidate.family !== own.family) why.push(`another family (${candidate.family}, the recipe's is ${own.family})`);
  if (common.length === 0)
    why.push(`no class in common (${candidate.labels.join(', ') || 'none'} against ${own.labels.join(', ') || 'none'}): it was likely trained on other parts`);
  return `Careful: ${why.join('; ')}. Its verdicts on these images may say little about it.`;
}

/** A thumbnail with the line's boxes (dashed) and the candidate's (solid) drawn over it. */
function PairThumb({ p }: { p: PartPair }) {
  if (!p.thumb) return <div class="noimg">no image</div>;
  const boxes = (ds: PairDefect[], cls: string) =>
    ds
      .filter((d) => d.box)
      .map((d) => (
        <rect x={d.box![0]} y={d.box![1]} width={d.box![2] - d.box![0]} height={d.box![3] - d.box![1]} class={cls}>
          <title>{`${d.class} ${d.score.toFixed(2)}`}</title>
        </rect>
      ));
  return (
    <div class="pair-thumb">
      <img src={`/api/inspections/${p.inspectionId}/image?variant=thumb`} alt={`inspection ${p.inspectionId}`} loading="lazy" />
      {p.imageSize && (
        <svg viewBox={`0 0 ${p.imageSize[0]} ${p.imageSize[1]}`} preserveAspectRatio="none" data-testid="pair-boxes" aria-hidden="true">
          {boxes(p.production.defects, 'box line-box')}
          {boxes(p.candidate.defects, 'box candidate-box')}
        </svg>
      )}
    </div>
  );
}

function Reinference({ me, recipe }: { me: Me; recipe: string }) {
  const [models, setModels] = useState<CandidateModel[]>([]);
  const [model, setModel] = useState('');
  const [jobs, setJobs] = useState<Job[]>([]);
  const [open, setOpen] = useState<Job | null>(null);
  const [pairs, setPairs] = useState<PartPair[]>([]);
  const [onlyDisagree, setOnlyDisagree] = useState(true);
  const [msg, setMsg] = useState('');
  const refresh = async () => {
    const list = (await api<{ items: Job[] }>('GET', '/api/reinference')).items;
    setJobs(list);
    if (open) setOpen(await api<Job>('GET', `/api/reinference/${open.id}`));
  };
  useEffect(() => void api<{ items: typeof models }>('GET', '/api/models').then((r) => setModels(r.items)), []);
  // The recipe's own model unless another is chosen: comparing the line against itself is the safe start.
  const own = models.find((m) => m.usedBy.includes(recipe));
  useEffect(() => setModel(own?.file ?? ''), [recipe, own?.file]);
  const byFile = (file: string) => models.find((m) => m.file === file);
  const mismatch = mismatchOf(byFile(model), own, recipe);
  useEffect(() => {
    void refresh();
    const t = setInterval(() => void refresh(), 2000);
    return () => clearInterval(t);
  }, [open?.id]);
  useEffect(() => {
    if (open?.state === 'done')
      void api<{ items: PartPair[] }>('GET', `/api/reinference/${open.id}/parts?only=${onlyDisagree ? 'disagree' : 'all'}`).then((r) => setPairs(r.items));
  }, [open?.id, open?.state, onlyDisagree]);
  return (
    <div class="reinference">
      <h3>Compare a model on the stored images</h3>
      {can(me, 'integrator') && (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            const f = new FormData(e.currentTarget as HTMLFormElement);
            try {
              const j = await api<Job>('POST', '/api/reinference', {
                recipe,
                model: model || undefined,
                ...(f.get('resize') ? { resize: String(f.get('resize')) } : {}),
                limit: Number(f.get('limit')),
              });
              setOpen(j);
              setMsg(`job ${j.id}: ${j.total} stored images`);
            } catch (err) {
              setMsg((err as Error).message);
            }
          }}
        >
          <label>
            Model{' '}
            <select name="model" value={model} onChange={(e) => setModel((e.target as HTMLSelectElement).value)}>
              {models
                .filter((m) => !m.problem)
                .map((m) => (
                  <option value={m.file}>
                    {m.file}
                    {m.usedBy.length ? ` (${m.usedBy.join(', ')})` : ''}
                  </option>
                ))}
            </select>
          </label>
          <label>
            Resize{' '}
            <select name="resize">
              <option value="">as the model says</option>
              <option>letterbox</option>
              <option>stretch</option>
            </select>
          </label>
          <label>
            At most <input name="limit" type="number" min="1" max="20000" value="2000" /> images
          </label>
          <button type="submit">Run in the background</button>
          {mismatch && (
            <p class="warn" role="note" data-testid="model-mismatch">
              {mismatch}
            </p>
          )}
        </form>
      )}
      {msg && <p class="note">{msg}</p>}
      <table>
        <thead>
          <tr>
            <th>job</th>
            <th>model</th>
            <th>state</th>
            <th>progress</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {jobs.map((j) => (
            <tr>
              <td>{j.id}</td>
              <td>
                {j.candidate.model}
                {j.candidate.resize ? ` · ${j.candidate.resize}` : ''}
              </td>
              <td>
                {j.state}
                {j.error ? `: ${j.error}` : ''}
              </td>
              <td>
                <progress max={j.total || 1} value={j.done} /> {j.done}/{j.total}
              </td>
              <td>
                <button type="button" onClick={() => void api<Job>('GET', `/api/reinference/${j.id}`).then(setOpen)}>
                  Compare
                </button>
                {can(me, 'integrator') && (j.state === 'running' || j.state === 'queued') && (
                  <button type="button" onClick={() => void api('POST', `/api/reinference/${j.id}/cancel`, {}).then(refresh)}>
                    Cancel
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open?.comparison && (
        <>
          {mismatchOf(byFile(open.candidate.model), own, recipe) && (
            <p class="warn" data-testid="job-mismatch">
              {`Job ${open.id}: ${mismatchOf(byFile(open.candidate.model), own, recipe)}`}
            </p>
          )}
          <table class="metrics" data-testid="comparison">
            <tbody>
              <tr>
                <th>parts</th>
                <td>{open.comparison.parts}</td>
                <th>disagree</th>
                <td>
                  {open.comparison.disagree}{' '}
                  <span class="muted">
                    ({open.comparison.candidateRejects} only the candidate rejects, {open.comparison.candidatePasses} only it passes)
                  </span>
                </td>
              </tr>
              <tr>
                <th>reject rate</th>
                <td>
                  {pct(open.comparison.rejectRateProduction)} → {pct(open.comparison.rejectRateCandidate)}
                </td>
                <th>escapes / false rejects</th>
                <td>
                  {open.comparison.escapesProduction} → {open.comparison.escapesCandidate} / {open.comparison.falseRejectsProduction} →{' '}
                  {open.comparison.falseRejectsCandidate}
                </td>
              </tr>
              <tr>
                <th>processing p50</th>
                <td colSpan={3}>
                  {open.comparison.processingMsP50.production ?? '–'} ms (line) vs {open.comparison.processingMsP50.candidate ?? '–'} ms (candidate, one thread)
                </td>
              </tr>
            </tbody>
          </table>
          <label>
            <input
              type="checkbox"
              data-testid="only-disagree"
              checked={onlyDisagree}
              onChange={(e) => setOnlyDisagree((e.target as HTMLInputElement).checked)}
            />{' '}
            only the parts they disagree on · boxes: <span class="key line-key">line</span> <span class="key candidate-key">candidate</span>
          </label>
          <div class="grid">
            {pairs.map((p) => (
              <a class={`card ${p.candidate.verdict}`} href={`#/inspection/${p.inspectionId}`}>
                <PairThumb p={p} />
                <span>
                  line {p.production.verdict} {p.production.maxScore.toFixed(2)} · candidate {p.candidate.verdict} {p.candidate.maxScore.toFixed(2)}
                  {p.label ? ` · ${p.label}` : ''}
                </span>
              </a>
            ))}
          </div>
        </>
      )}
    </div>
  );
}
