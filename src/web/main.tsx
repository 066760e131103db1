import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, can, login, me as fetchMe, type Inspection, type Me } from './api.js';
import { ChartBox } from './chart.js';
import { LotPage, lotHref } from './lot.js';
import { WhatIf } from './whatif.js';
import { atThreshold, type OperatingPoint } from '../eval/metrics.js';
import './style.css';

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function App() {
  const [user, setUser] = useState<Me | null | undefined>(undefined);
  const hash = useHash();
  useEffect(() => void fetchMe().then(setUser), []);
  if (user === undefined) return <p class="muted pad">Loading…</p>;
  if (user === null) return <Login onLogin={setUser} />;
  const detail = /^#\/inspection\/(\d+)/.exec(hash);
  const lot = /^#\/lot\/(.+)$/.exec(hash);
  return (
    <>
      <header>
        <strong>Inspection station</strong>
        <nav>
          <a href="#/" class={hash === '#/' || detail ? 'on' : ''}>
            Gallery
          </a>
          <a href="#/stats" class={hash === '#/stats' ? 'on' : ''}>
            Statistics
          </a>
          <a href="#/recipes" class={hash === '#/recipes' ? 'on' : ''}>
            Recipes
          </a>
          <a href="#/whatif" class={hash === '#/whatif' ? 'on' : ''}>
            What-if
          </a>
        </nav>
        <span class="muted">
          {user.username} ({user.role})
        </span>
        <button
          type="button"
          onClick={async () => {
            await api('POST', '/api/auth/logout', {});
            setUser(null);
          }}
        >
          Log out
        </button>
      </header>
      <main>
        {hash === '#/stats' ? (
          <Stats />
        ) : hash === '#/recipes' ? (
          <Recipes me={user} />
        ) : hash === '#/whatif' ? (
          <WhatIf me={user} />
        ) : lot ? (
          <LotPage lot={decodeURIComponent(lot[1])} />
        ) : (
          <Gallery me={user} openId={detail ? Number(detail[1]) : null} />
        )}
      </main>
    </>
  );
}

function Login({ onLogin }: { onLogin: (m: Me) => void }) {
  const [error, setError] = useState('');
  return (
    <form
      class="login"
      onSubmit={async (e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget as HTMLFormElement);
        try {
          onLogin(await login(String(f.get('username')), String(f.get('password'))));
        } catch (err) {
          setError((err as Error).message);
        }
      }}
    >
      <h1>Inspection station</h1>
      <label>
        User <input name="username" autocomplete="username" required />
      </label>
      <label>
        Password <input name="password" type="password" autocomplete="current-password" required />
      </label>
      <button type="submit">Log in</button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

interface Filters {
  verdict: string;
  class: string;
  reviewed: string;
  station: string;
  /** A serial or a lot from the PLC, matched exactly ('' for any). */
  partId: string;
  lot: string;
  /** The browser's local time, as a datetime-local input gives it ('' for no bound). */
  from: string;
  to: string;
}

/** One end of the gallery's time range, in the browser's local time. */
function TimeBound(p: { label: string; testId: string; value: string; onChange: (v: string) => void }) {
  return (
    <label>
      {p.label} <input type="datetime-local" data-testid={p.testId} value={p.value} onChange={(e) => p.onChange((e.target as HTMLInputElement).value)} />
    </label>
  );
}

/**
 * A text filter, applied on Enter or on leaving the field. What is typed is the field's own until
 * then: a re-render of the gallery meanwhile (a page or the recipes arriving) must not wipe it.
 */
function SearchField(p: { label: string; testId: string; size: number; value: string; onApply: (v: string) => void }) {
  const [draft, setDraft] = useState(p.value);
  useEffect(() => setDraft(p.value), [p.value]);
  return (
    <label>
      {p.label}{' '}
      <input
        type="search"
        data-testid={p.testId}
        size={p.size}
        value={draft}
        onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
        onChange={(e) => p.onApply((e.target as HTMLInputElement).value.trim())}
      />
    </label>
  );
}

/** A datetime-local value (the browser's local time) as the API's ISO time, or null when empty or invalid. */
function isoOfLocal(v: string): string | null {
  if (!v) return null;
  const t = new Date(v);
  return Number.isNaN(t.getTime()) ? null : t.toISOString();
}
interface StationInfo {
  id: string;
  name: string;
  site: string;
  area: string;
  line: string;
}

function Gallery({ me, openId }: { me: Me; openId: number | null }) {
  const [filters, setFilters] = useState<Filters>({ verdict: 'fail', class: '', reviewed: '', station: '', partId: '', lot: '', from: '', to: '' });
  const [stations, setStations] = useState<StationInfo[]>([]);
  useEffect(() => void api<{ items: StationInfo[] }>('GET', '/api/stations').then((r) => setStations(r.items)), []);
  const [items, setItems] = useState<Inspection[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [live, setLive] = useState(false);
  const [counters, setCounters] = useState<{ parts: number; pass: number; fail: number; uninspected: number } | null>(null);
  const [labels, setLabels] = useState<string[]>([]);
  const sentinel = useRef<HTMLDivElement>(null);
  const loading = useRef(false);
  /** Bumped by each change of filters: a response to older filters is not shown. */
  const generation = useRef(0);

  /** The filters as the API's query (the listing and the CSV download take the same). */
  const filterQuery = () => {
    const q = new URLSearchParams();
    if (filters.verdict) q.set('verdict', filters.verdict);
    if (filters.class) q.set('class', filters.class);
    if (filters.reviewed) q.set('reviewed', filters.reviewed);
    if (filters.station) q.set('station', filters.station);
    if (filters.partId) q.set('partId', filters.partId);
    if (filters.lot) q.set('lot', filters.lot);
    const from = isoOfLocal(filters.from);
    const to = isoOfLocal(filters.to);
    if (from) q.set('from', from);
    if (to) q.set('to', to);
    return q;
  };
  const query = (c?: string | null) => {
    const q = filterQuery();
    q.set('limit', '48');
    if (c) q.set('cursor', c);
    return `/api/inspections?${q}`;
  };
  const loadMore = async (reset = false) => {
    // New filters always load (a page of the old ones still on its way is then dropped); the next
    // page waits for the one in flight.
    if (!reset && (loading.current || cursor === null)) return;
    const gen = reset ? ++generation.current : generation.current;
    loading.current = true;
    try {
      const r = await api<{ items: Inspection[]; nextCursor: string | null }>('GET', query(reset ? undefined : cursor));
      if (gen !== generation.current) return;
      // A card the live feed put on top already (a spool replayed: captured long ago) is not shown twice.
      setItems((prev) => {
        if (reset) return r.items;
        const shown = new Set(prev.map((x) => x.id));
        return [...prev, ...r.items.filter((x) => !shown.has(x.id))];
      });
      setCursor(r.nextCursor);
    } finally {
      if (gen === generation.current) loading.current = false;
    }
  };
  useEffect(
    () => void loadMore(true),
    [filters.verdict, filters.class, filters.reviewed, filters.station, filters.partId, filters.lot, filters.from, filters.to],
  );
  useEffect(
    () =>
      void api<{ items: { labels?: string[]; name: string }[] }>('GET', '/api/recipes').then(async (r) => {
        const all = new Set<string>();
        for (const x of r.items) for (const l of (await api<{ labels: string[] }>('GET', `/api/recipes/${encodeURIComponent(x.name)}`)).labels) all.add(l);
        setLabels([...all]);
      }),
    [],
  );
  // Endless scroll: the sentinel under the grid asks for the next page.
  useEffect(() => {
    const io = new IntersectionObserver((es) => es.some((e) => e.isIntersecting) && void loadMore());
    if (sentinel.current) io.observe(sentinel.current);
    return () => io.disconnect();
  });
  // Live mode: new results and the line's counters stream in (server-sent events).
  useEffect(() => {
    if (!live) return;
    const es = new EventSource('/api/live');
    es.addEventListener('inspection', (e) => {
      const it = JSON.parse((e as MessageEvent).data) as Inspection;
      if (filters.verdict && it.verdict !== filters.verdict) return;
      if ((filters.partId && it.partId !== filters.partId) || (filters.lot && it.lot !== filters.lot)) return;
      if (filters.to) return; // a window that ends in the past takes no new parts
      setItems((prev) => [it, ...prev].slice(0, 500));
    });
    es.addEventListener('counters', (e) => setCounters(JSON.parse((e as MessageEvent).data)));
    return () => es.close();
  }, [live, filters.verdict, filters.partId, filters.lot, filters.to]);

  const index = openId === null ? -1 : items.findIndex((x) => x.id === openId);
  return (
    <>
      <div class="filters">
        <label>
          Verdict{' '}
          <select value={filters.verdict} onChange={(e) => setFilters({ ...filters, verdict: (e.target as HTMLSelectElement).value })}>
            <option value="">all</option>
            <option value="fail">fail</option>
            <option value="uninspected">uninspected</option>
            <option value="pass">pass</option>
          </select>
        </label>
        <label>
          Class{' '}
          <select value={filters.class} onChange={(e) => setFilters({ ...filters, class: (e.target as HTMLSelectElement).value })}>
            <option value="">all</option>
            {labels.map((l) => (
              <option value={l}>{l}</option>
            ))}
          </select>
        </label>
        <label>
          Review{' '}
          <select value={filters.reviewed} onChange={(e) => setFilters({ ...filters, reviewed: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            <option value="false">not reviewed</option>
            <option value="true">reviewed</option>
          </select>
        </label>
        {stations.length > 1 && (
          <label>
            Station{' '}
            <select value={filters.station} onChange={(e) => setFilters({ ...filters, station: (e.target as HTMLSelectElement).value })}>
              <option value="">all</option>
              {stations.map((st) => (
                <option value={st.id}>
                  {st.id}
                  {st.line ? ` (${st.line})` : ''}
                </option>
              ))}
            </select>
          </label>
        )}
        {/* A serial finds its part whatever its verdict: looking one up clears the verdict filter. */}
        <SearchField
          label="Serial"
          testId="serial"
          size={14}
          value={filters.partId}
          onApply={(partId) => setFilters((f) => ({ ...f, partId, verdict: partId ? '' : f.verdict }))}
        />
        <SearchField label="Lot" testId="lot" size={10} value={filters.lot} onApply={(lot) => setFilters((f) => ({ ...f, lot }))} />
        {filters.lot && (
          <a data-testid="lot-page" href={lotHref(filters.lot)}>
            lot page
          </a>
        )}
        <TimeBound label="From" testId="from" value={filters.from} onChange={(from) => setFilters({ ...filters, from })} />
        <TimeBound label="To" testId="to" value={filters.to} onChange={(to) => setFilters({ ...filters, to })} />
        <a class="csv" data-testid="csv" href={`/api/inspections.csv?${filterQuery()}`} download>
          CSV
        </a>
        <label class="live">
          <input type="checkbox" checked={live} onChange={(e) => setLive((e.target as HTMLInputElement).checked)} /> Live
        </label>
        {counters && (
          <span class="counters">
            parts {counters.parts} · pass {counters.pass} · fail {counters.fail} · uninspected {counters.uninspected}
          </span>
        )}
      </div>
      <div class="grid">
        {items.map((it) => (
          <a class={`card ${it.verdict}`} href={`#/inspection/${it.id}`} data-testid="card">
            {it.images.includes('thumb') ? (
              <img src={`/api/inspections/${it.id}/image?variant=thumb`} alt={`part ${it.partSeq}`} loading="lazy" />
            ) : (
              <div class="noimg">no image</div>
            )}
            <span>
              {it.partId ?? `#${it.partSeq}`} {it.verdict}
              {it.defects[0] ? ` · ${it.defects[0].class} ${it.defects[0].score.toFixed(2)}` : it.errorCode ? ` · ${it.errorCode}` : ''}
            </span>
          </a>
        ))}
      </div>
      <div ref={sentinel} class="muted pad">
        {cursor === null ? (items.length ? 'That is all.' : 'Nothing matches.') : 'Loading…'}
      </div>
      {openId !== null && (
        <Detail
          id={openId}
          me={me}
          prev={index > 0 ? items[index - 1].id : null}
          next={index >= 0 && index < items.length - 1 ? items[index + 1].id : null}
          onReviewed={() => void loadMore(true)}
        />
      )}
    </>
  );
}

function Detail({ id, me, prev, next, onReviewed }: { id: number; me: Me; prev: number | null; next: number | null; onReviewed: () => void }) {
  const [it, setIt] = useState<Inspection | null>(null);
  const [variant, setVariant] = useState<'overlay' | 'original'>('overlay');
  const [boxes, setBoxes] = useState(true);
  const [view, setView] = useState({ scale: 1, x: 0, y: 0 });
  const [msg, setMsg] = useState('');
  const drag = useRef<{ x: number; y: number } | null>(null);
  const load = () => api<Inspection>('GET', `/api/inspections/${id}`).then(setIt);
  useEffect(() => {
    setView({ scale: 1, x: 0, y: 0 });
    void load();
  }, [id]);

  const review = async (label: string) => {
    let cls: string | undefined;
    if (label === 'escape') {
      cls = prompt('Class of the defect the station missed') ?? undefined;
      if (!cls) return;
    }
    try {
      await api('POST', `/api/inspections/${id}/review`, { label, class: cls });
      setMsg(`Marked ${label.replace('_', ' ')}`);
      await load();
      onReviewed();
    } catch (err) {
      setMsg((err as Error).message);
    }
  };
  // Keyboard review: c confirmed, f false reject, e escape; arrows step; Esc closes; o toggles overlay.
  useEffect(() => {
    const on = (e: KeyboardEvent) => {
      if ((e.target as HTMLElement).tagName === 'INPUT') return;
      if (e.key === 'Escape') location.hash = '#/';
      else if (e.key === 'ArrowLeft' && prev) location.hash = `#/inspection/${prev}`;
      else if (e.key === 'ArrowRight' && next) location.hash = `#/inspection/${next}`;
      else if (e.key === 'o') setVariant((v) => (v === 'overlay' ? 'original' : 'overlay'));
      else if (can(me, 'quality') && e.key === 'c') void review('confirmed');
      else if (can(me, 'quality') && e.key === 'f') void review('false_reject');
      else if (can(me, 'quality') && e.key === 'e') void review('escape');
    };
    addEventListener('keydown', on);
    return () => removeEventListener('keydown', on);
  });
  if (!it)
    return (
      <div class="modal">
        <p class="pad">Loading…</p>
      </div>
    );
  const size = it.imageInfo?.find((i) => i.variant === 'original');
  return (
    <div class="modal" role="dialog" aria-label={`inspection ${it.id}`}>
      {/* biome-ignore lint/a11y/noStaticElementInteractions: pan and zoom with the pointer; the keyboard has its own shortcuts */}
      <div
        class="viewer"
        onWheel={(e) => {
          e.preventDefault();
          setView((v) => ({ ...v, scale: Math.min(8, Math.max(1, v.scale * (e.deltaY < 0 ? 1.2 : 1 / 1.2))) }));
        }}
        onMouseDown={(e) => {
          drag.current = { x: e.clientX - view.x, y: e.clientY - view.y };
        }}
        onMouseMove={(e) => {
          if (drag.current) setView((v) => ({ ...v, x: e.clientX - drag.current!.x, y: e.clientY - drag.current!.y }));
        }}
        onMouseUp={() => {
          drag.current = null;
        }}
        onMouseLeave={() => {
          drag.current = null;
        }}
      >
        {it.images.includes(variant) ? (
          <div class="stage" style={{ transform: `translate(${view.x}px, ${view.y}px) scale(${view.scale})` }}>
            <img draggable={false} src={`/api/inspections/${it.id}/image?variant=${variant}`} alt={`${variant} of part ${it.partSeq}`} />
            {variant === 'original' && boxes && size && (
              <svg viewBox={`0 0 ${size.width} ${size.height}`} preserveAspectRatio="none" aria-label="boxes">
                {it.defects
                  .filter((d) => d.box)
                  .map((d) => (
                    <rect
                      x={d.box![0]}
                      y={d.box![1]}
                      width={d.box![2] - d.box![0]}
                      height={d.box![3] - d.box![1]}
                      class={d.rejecting ? 'box rejecting' : 'box'}
                    >
                      <title>{`${d.class} ${d.score.toFixed(2)}`}</title>
                    </rect>
                  ))}
              </svg>
            )}
          </div>
        ) : (
          <p class="pad muted">No {variant} image kept for this part.</p>
        )}
      </div>
      <aside>
        <button
          type="button"
          class="close"
          onClick={() => {
            location.hash = '#/';
          }}
          aria-label="close"
        >
          ×
        </button>
        <h2 class={it.verdict}>
          Part {it.partId ? `${it.partId} (#${it.partSeq})` : `#${it.partSeq}`}: {it.verdict}
        </h2>
        {it.lot && (
          <p class="muted">
            lot{' '}
            <a data-testid="lot-link" href={lotHref(it.lot)}>
              {it.lot}
            </a>
          </p>
        )}
        {it.code && (
          <p class="muted" data-testid="code">
            code {it.code}
          </p>
        )}
        <p class="muted">
          {new Date(it.capturedAt).toLocaleString()} · recipe {it.recipe} v{it.recipeVersion?.version ?? '?'} · {it.model?.name ?? ''} ·{' '}
          {it.latencyMs.toFixed(0)} ms
        </p>
        {it.errorCode && <p class="error">{it.errorCode}</p>}
        <div class="toggles">
          <label>
            <input type="radio" checked={variant === 'overlay'} onChange={() => setVariant('overlay')} /> Overlay (boxes, masks, heat map)
          </label>
          <label>
            <input type="radio" checked={variant === 'original'} onChange={() => setVariant('original')} /> Original
          </label>
          <label>
            <input type="checkbox" checked={boxes} disabled={variant !== 'original'} onChange={(e) => setBoxes((e.target as HTMLInputElement).checked)} /> Boxes
            on the original
          </label>
          <button type="button" onClick={() => setView({ scale: 1, x: 0, y: 0 })}>
            Reset zoom
          </button>
        </div>
        <table>
          <thead>
            <tr>
              <th>class</th>
              <th>score</th>
              <th>counts</th>
            </tr>
          </thead>
          <tbody>
            {it.defects.map((d) => (
              <tr>
                <td>{d.class}</td>
                <td>{d.score.toFixed(3)}</td>
                <td>{d.rejecting ? 'rejects' : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {can(me, 'quality') && (
          <div class="review">
            <button type="button" onClick={() => void review('confirmed')} title="c">
              Confirm (c)
            </button>
            <button type="button" onClick={() => void review('false_reject')} title="f">
              False reject (f)
            </button>
            <button type="button" onClick={() => void review('escape')} title="e">
              Escape (e)
            </button>
          </div>
        )}
        {msg && (
          <p class="note" role="status">
            {msg}
          </p>
        )}
        <h3>Reviews</h3>
        {(it.reviews ?? []).length === 0 ? (
          <p class="muted">None yet.</p>
        ) : (
          <ul>
            {it.reviews!.map((r) => (
              <li>
                {r.label.replace('_', ' ')}
                {r.class ? ` (${r.class})` : ''} by {r.by}, {new Date(r.at).toLocaleString()}
                {r.note ? `: ${r.note}` : ''}
              </li>
            ))}
          </ul>
        )}
        <p class="muted">← → step · o overlay · Esc close</p>
      </aside>
    </div>
  );
}

/** The Statistics page's windows: the last day, week or month (read from the hourly aggregates). */
const WINDOWS = { '24 h': 1, '7 days': 7, '30 days': 30 } as const;

function Stats() {
  const [bucket, setBucket] = useState('hour');
  const [scope, setScope] = useState('');
  const [days, setDays] = useState<number>(7);
  const [stations, setStations] = useState<StationInfo[]>([]);
  const [perStation, setPerStation] = useState<
    { station: string; line: string; parts: number; pass: number; fail: number; uninspected: number; rejectRate: number | null }[]
  >([]);
  useEffect(() => void api<{ items: StationInfo[] }>('GET', '/api/stations').then((r) => setStations(r.items)), []);
  // Scope: "" all, "station:ID" or "line:NAME".
  const from = new Date(Date.now() - days * 24 * 3600 * 1000).toISOString();
  const scopeQuery =
    `&from=${encodeURIComponent(from)}` +
    (scope ? `&${scope.startsWith('line:') ? 'line' : 'station'}=${encodeURIComponent(scope.slice(scope.indexOf(':') + 1))}` : '');
  const [yieldData, setYield] = useState<
    { start: string; parts: number; yield: number | null; reviewedYield: number | null; falseRejects: number; escapes: number }[]
  >([]);
  const [pareto, setPareto] = useState<{ class: string; count: number; cumulative: number }[]>([]);
  useEffect(() => {
    void api<{ buckets: typeof yieldData }>('GET', `/api/stats/yield?bucket=${bucket}${scopeQuery}`).then((r) => setYield(r.buckets));
    void api<{ classes: typeof pareto }>('GET', `/api/stats/pareto?${scopeQuery.slice(1)}`).then((r) => setPareto(r.classes));
    void api<{ stations: typeof perStation }>('GET', `/api/stats/stations?${scopeQuery.slice(1)}`).then((r) => setPerStation(r.stations));
  }, [bucket, scope, days]);
  const totals = useMemo(
    () => yieldData.reduce((a, b) => ({ parts: a.parts + b.parts, fr: a.fr + b.falseRejects, esc: a.esc + b.escapes }), { parts: 0, fr: 0, esc: 0 }),
    [yieldData],
  );
  return (
    <section class="stats">
      <div class="filters">
        <label>
          Last{' '}
          <select data-testid="window" value={String(days)} onChange={(e) => setDays(Number((e.target as HTMLSelectElement).value))}>
            {Object.entries(WINDOWS).map(([name, d]) => (
              <option value={String(d)}>{name}</option>
            ))}
          </select>
        </label>
        <label>
          Per{' '}
          <select value={bucket} onChange={(e) => setBucket((e.target as HTMLSelectElement).value)}>
            <option>hour</option>
            <option>shift</option>
            <option>day</option>
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
        <span data-testid="totals">
          parts {totals.parts} · reviewed false rejects <b data-testid="false-rejects">{totals.fr}</b> · reviewed escapes {totals.esc}
        </span>
      </div>
      <h2>Yield</h2>
      <ChartBox
        config={{
          type: 'line',
          data: {
            labels: yieldData.map((b) => new Date(b.start).toLocaleString()),
            datasets: [
              { label: 'yield (station)', data: yieldData.map((b) => b.yield), borderColor: '#1f77b4' },
              { label: 'yield (after reviews)', data: yieldData.map((b) => b.reviewedYield), borderColor: '#2ca02c' },
            ],
          },
          options: { animation: false, scales: { y: { min: 0, max: 1 } } },
        }}
      />
      {perStation.length > 1 && (
        <>
          <h2>Stations side by side</h2>
          <table class="metrics" data-testid="per-station">
            <thead>
              <tr>
                <th>station</th>
                <th>line</th>
                <th>parts</th>
                <th>pass</th>
                <th>fail</th>
                <th>uninspected</th>
                <th>reject rate</th>
              </tr>
            </thead>
            <tbody>
              {perStation.map((r) => (
                <tr>
                  <td>{r.station}</td>
                  <td>{r.line}</td>
                  <td>{r.parts}</td>
                  <td>{r.pass}</td>
                  <td>{r.fail}</td>
                  <td>{r.uninspected}</td>
                  <td>{r.rejectRate === null ? '–' : `${(r.rejectRate * 100).toFixed(1)} %`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <h2>Defects by class (Pareto)</h2>
      <ChartBox
        config={{
          type: 'bar',
          data: {
            labels: pareto.map((p) => p.class),
            datasets: [
              { type: 'bar', label: 'count', data: pareto.map((p) => p.count), backgroundColor: '#d64545', yAxisID: 'y' },
              { type: 'line', label: 'cumulative share', data: pareto.map((p) => p.cumulative), borderColor: '#555', yAxisID: 'y1' },
            ],
          },
          options: { animation: false, scales: { y: { beginAtZero: true }, y1: { position: 'right', min: 0, max: 1 } } },
        }}
      />
    </section>
  );
}

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
const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)} %`);

function Recipes({ me }: { me: Me }) {
  const [recipes, setRecipes] = useState<RecipeVersion[]>([]);
  const [versions, setVersions] = useState<Record<string, RecipeVersion[]>>({});
  const [models, setModels] = useState<Record<string, ModelDocsView>>({});
  const [candidate, setCandidate] = useState<Record<string, number>>({});
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
                onSubmit={async (e) => {
                  e.preventDefault();
                  const f = new FormData(e.currentTarget as HTMLFormElement);
                  const value = Number(f.get('threshold'));
                  const t = r.definition.thresholds;
                  try {
                    const res = await api<{ version: number }>('PUT', `/api/recipes/${encodeURIComponent(r.name)}/thresholds`, {
                      thresholds: isAnomaly(model?.family) ? { ...t, anomalyScore: value } : { ...t, default: { ...(t.default ?? {}), minScore: value } },
                      reason: String(f.get('reason')),
                    });
                    setMsg(`${r.name}: version ${res.version} is on the line`);
                    setCandidate({ ...candidate, [r.name]: value });
                    await load();
                  } catch (err) {
                    setMsg((err as Error).message);
                  }
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
            {model && <ModelPanel model={model} current={current} proposed={proposed} />}
            <table>
              <thead>
                <tr>
                  <th>version</th>
                  <th>when</th>
                  <th>who</th>
                  <th>why</th>
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
                    <td>
                      {can(me, 'integrator') && v.version !== r.version && (
                        <button
                          type="button"
                          onClick={async () => {
                            try {
                              await api('POST', `/api/recipes/${encodeURIComponent(r.name)}/rollback`, { version: v.version });
                              setMsg(`${r.name}: rolled back to version ${v.version}`);
                              await load();
                            } catch (err) {
                              setMsg((err as Error).message);
                            }
                          }}
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

render(<App />, document.getElementById('app')!);
