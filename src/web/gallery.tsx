import { useEffect, useRef, useState } from 'preact/hooks';
import { api, can, type Inspection, type Me, type StationInfo } from './api.js';
import { Detail, labelText, type LastReview } from './detail.js';
import { isoOfPlantLocal, plantLocalOf, t } from './i18n.js';
import { lotHref } from './lot.js';

interface Filters {
  verdict: string;
  class: string;
  reviewed: string;
  station: string;
  /** A serial or a lot from the PLC, matched exactly ('' for any). */
  partId: string;
  lot: string;
  /** ISO instants ('' for no bound): the URL holds them whatever zone the browser is in. */
  from: string;
  to: string;
}
const FILTER_KEYS = ['verdict', 'class', 'reviewed', 'station', 'partId', 'lot', 'from', 'to'] as const;

/** The filters a URL's query names; a query without `verdict` shows the failed parts (the review queue's default). */
export function filtersOf(q: URLSearchParams): Filters {
  const f = Object.fromEntries(FILTER_KEYS.map((k) => [k, q.get(k) ?? ''])) as unknown as Filters;
  if (!q.has('verdict')) f.verdict = 'fail';
  return f;
}

/** The filters as the gallery's URL query (`verdict=` empty: every verdict). */
export function queryOf(f: Filters): string {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) if (f[k] || k === 'verdict') q.set(k, f[k]);
  return q.toString();
}

/** One end of the gallery's time range, typed in the plant's wall time. */
function TimeBound(p: { label: string; testId: string; value: string; onChange: (iso: string) => void }) {
  return (
    <label>
      {p.label}{' '}
      <input
        type="datetime-local"
        data-testid={p.testId}
        value={p.value ? plantLocalOf(p.value) : ''}
        onChange={(e) => p.onChange(isoOfPlantLocal((e.target as HTMLInputElement).value) ?? '')}
      />
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

interface ExportJob {
  id: string;
  state: 'running' | 'done' | 'failed';
  done: number;
  total: number;
  error?: string;
  errorCode?: string;
}

/**
 * The reviewed images of the filter's time range as a training dataset (`POST /api/exports`):
 * started here, its progress shown while it is built, and its archive offered when done.
 */
function DatasetExport({ from, to }: { from: string; to: string }) {
  const [layout, setLayout] = useState<'ultralytics' | 'folders'>('ultralytics');
  const [job, setJob] = useState<ExportJob | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    if (job?.state !== 'running') return;
    const timer = setInterval(
      () =>
        void api<ExportJob>('GET', `/api/exports/${job.id}`)
          .then(setJob)
          .catch((err) => setError((err as Error).message)),
      500,
    );
    return () => clearInterval(timer);
  }, [job?.id, job?.state]);
  const start = async () => {
    setError('');
    try {
      setJob(await api<ExportJob>('POST', '/api/exports', { layout, ...(from ? { from } : {}), ...(to ? { to } : {}) }));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <span class="export" data-testid="dataset-export">
      <label>
        {t('gallery:dataset')}{' '}
        <select value={layout} onChange={(e) => setLayout((e.target as HTMLSelectElement).value as 'ultralytics' | 'folders')}>
          <option value="ultralytics">{t('gallery:layout.ultralytics')}</option>
          <option value="folders">{t('gallery:layout.folders')}</option>
        </select>
      </label>{' '}
      <button type="button" disabled={job?.state === 'running'} onClick={() => void start()}>
        {t('gallery:exportStart')}
      </button>
      {job?.state === 'running' && (
        <>
          {' '}
          <progress max={job.total || 1} value={job.done} aria-label={t('gallery:exportProgress')} /> {job.done}/{job.total}
        </>
      )}
      {job?.state === 'done' && (
        <>
          {' '}
          <a data-testid="export-archive" href={`/api/exports/${job.id}/archive`} download>
            {t('gallery:exportDone', { count: job.total })}
          </a>
        </>
      )}
      {(job?.state === 'failed' || error) && (
        <span class="error" role="alert">
          {' '}
          {job?.errorCode ?? ''} {job?.error ?? error}
        </span>
      )}
    </span>
  );
}

/** Whether a part the live feed brings matches the filters (the listing's rules). */
function matches(it: Inspection, f: Filters): boolean {
  if (f.verdict && it.verdict !== f.verdict) return false;
  if (f.class && !it.defects.some((d) => d.class === f.class && d.rejecting)) return false;
  if (f.station && it.station !== f.station) return false;
  if ((f.partId && it.partId !== f.partId) || (f.lot && it.lot !== f.lot)) return false;
  // A new part is not reviewed yet; a window that ends in the past takes no new parts.
  return f.reviewed !== 'true' && !f.to;
}

export function Gallery({ me, openId, query }: { me: Me; openId: number | null; query: URLSearchParams }) {
  const [filters, setFilters] = useState<Filters>(() => filtersOf(query));
  const qs = queryOf(filters);
  /** Review = not reviewed: the review queue, which moves on by itself after each review. */
  const queue = filters.reviewed === 'false';
  // The URL follows the filters (a reload, a link sent to a colleague keep them), and a URL
  // typed or stepped back to sets them.
  useEffect(() => {
    const path = openId === null ? '/' : `/inspection/${openId}`;
    if (location.hash !== `#${path}?${qs}`) history.replaceState(null, '', `#${path}?${qs}`);
  }, [qs, openId]);
  const routeQs = queryOf(filtersOf(query));
  useEffect(() => {
    if (routeQs !== qs) setFilters(filtersOf(query));
  }, [routeQs]);
  const href = (id: number | null) => (id === null ? `#/?${qs}` : `#/inspection/${id}?${qs}`);

  const [stations, setStations] = useState<StationInfo[]>([]);
  useEffect(() => void api<{ items: StationInfo[] }>('GET', '/api/stations').then((r) => setStations(r.items)), []);
  const [items, setItems] = useState<Inspection[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [live, setLive] = useState(false);
  const [counters, setCounters] = useState<{ parts: number; pass: number; fail: number; uninspected: number } | null>(null);
  const [labels, setLabels] = useState<string[]>([]);
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [bulkMsg, setBulkMsg] = useState('');
  const [advance, setAdvance] = useState(() => localStorage.getItem('review.advance') !== 'off');
  const [last, setLast] = useState<LastReview | null>(null);
  const sentinel = useRef<HTMLDivElement>(null);
  const loading = useRef(false);
  /** Bumped by each change of filters: a response to older filters is not shown. */
  const generation = useRef(0);
  /** Where the open part was in the list: once reviewed it may leave the list (Review = not reviewed), and the queue goes on from there. */
  const openAt = useRef(-1);

  /** The filters as the API's query (the listing and the CSV download take the same). */
  const filterQuery = () => {
    const q = new URLSearchParams();
    for (const k of FILTER_KEYS) if (filters[k]) q.set(k, filters[k]);
    return q;
  };
  const listUrl = (c?: string | null) => {
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
      const r = await api<{ items: Inspection[]; nextCursor: string | null }>('GET', listUrl(reset ? undefined : cursor));
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
  useEffect(() => {
    setSelected(new Set());
    void loadMore(true);
  }, [qs]);
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
  // Live mode: new results and the line's counters stream in (server-sent events), filtered as the listing is.
  useEffect(() => {
    if (!live) return;
    const es = new EventSource('/api/live');
    es.addEventListener('inspection', (e) => {
      const it = JSON.parse((e as MessageEvent).data) as Inspection;
      if (matches(it, filters)) setItems((prev) => [it, ...prev.filter((x) => x.id !== it.id)].slice(0, 500));
    });
    es.addEventListener('counters', (e) => setCounters(JSON.parse((e as MessageEvent).data)));
    return () => {
      es.close();
      // Counters that no longer move are not shown as if they did.
      setCounters(null);
    };
  }, [live, qs]);

  const index = openId === null ? -1 : items.findIndex((x) => x.id === openId);
  if (index >= 0) openAt.current = index;
  else if (openId === null) openAt.current = -1;
  // The open part left the list (reviewed, under Review = not reviewed): the part now in its place is next.
  const gone = openId !== null && index < 0 && openAt.current >= 0;
  const prev = index > 0 ? items[index - 1].id : gone && openAt.current > 0 ? items[Math.min(openAt.current, items.length) - 1]?.id : null;
  const next = index >= 0 ? (items[index + 1]?.id ?? null) : gone ? (items[openAt.current]?.id ?? null) : null;

  // Closing the dialog gives the focus back to the card of the part it last showed.
  const lastOpen = useRef<number | null>(null);
  useEffect(() => {
    if (openId !== null) lastOpen.current = openId;
    else if (lastOpen.current !== null) {
      document.querySelector<HTMLElement>(`a[data-testid="card"][href^="#/inspection/${lastOpen.current}?"]`)?.focus();
      lastOpen.current = null;
    }
  }, [openId]);

  const onReviewed = (r: LastReview) => {
    setLast(r);
    // The queue (Review = not reviewed) advances once a part has a new label; the list then
    // reloads under the filters. Elsewhere the part stays open: a key pressed twice is one review.
    if (queue && advance && r.created && next !== null) location.hash = href(next);
    void loadMore(true);
  };
  const undo = async () => {
    if (!last) return;
    try {
      const r = await api<{ current: { label: string } | null }>('DELETE', `/api/inspections/${last.id}/reviews/${last.reviewId}`);
      setLast({ ...last, undone: r.current ? labelText(r.current.label) : t('review:unreviewed') });
      void loadMore(true);
    } catch (err) {
      setLast({ ...last, error: (err as Error).message });
    }
  };
  const quality = can(me, 'quality');
  const toggle = (id: number) =>
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  const bulk = async (label: 'confirmed' | 'false_reject') => {
    try {
      const r = await api<{ created: number; unchanged: number; refused: { id: number; code: string }[] }>('POST', '/api/reviews/bulk', {
        ids: [...selected],
        label,
      });
      setBulkMsg(
        t('review:bulkDone', { created: r.created, unchanged: r.unchanged, refused: r.refused.length, label: labelText(label) }) +
          (r.refused.length ? ` (${[...new Set(r.refused.map((x) => x.code))].join(', ')})` : ''),
      );
      setSelected(new Set());
      void loadMore(true);
    } catch (err) {
      setBulkMsg((err as Error).message);
    }
  };
  const set = (p: Partial<Filters>) => setFilters((f) => ({ ...f, ...p }));
  // Behind the open dialog the gallery is inert: Tab and screen readers stay in the dialog.
  const inert = openId !== null ? { inert: true } : {};
  return (
    <>
      <div class="filters" {...inert}>
        <label>
          {t('gallery:verdict')}{' '}
          <select value={filters.verdict} onChange={(e) => set({ verdict: (e.target as HTMLSelectElement).value })}>
            <option value="">{t('gallery:all')}</option>
            <option value="fail">{t('verdict.fail')}</option>
            <option value="uninspected">{t('verdict.uninspected')}</option>
            <option value="pass">{t('verdict.pass')}</option>
          </select>
        </label>
        <label>
          {t('gallery:class')}{' '}
          <select value={filters.class} onChange={(e) => set({ class: (e.target as HTMLSelectElement).value })}>
            <option value="">{t('gallery:all')}</option>
            {labels.map((l) => (
              <option value={l}>{l}</option>
            ))}
          </select>
        </label>
        <label>
          {t('gallery:review')}{' '}
          <select data-testid="reviewed-filter" value={filters.reviewed} onChange={(e) => set({ reviewed: (e.target as HTMLSelectElement).value })}>
            <option value="">{t('gallery:any')}</option>
            <option value="false">{t('gallery:notReviewed')}</option>
            <option value="true">{t('gallery:reviewed')}</option>
          </select>
        </label>
        {stations.length > 1 && (
          <label>
            {t('gallery:station')}{' '}
            <select value={filters.station} onChange={(e) => set({ station: (e.target as HTMLSelectElement).value })}>
              <option value="">{t('gallery:all')}</option>
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
          label={t('gallery:serial')}
          testId="serial"
          size={14}
          value={filters.partId}
          onApply={(partId) => setFilters((f) => ({ ...f, partId, verdict: partId ? '' : f.verdict }))}
        />
        <SearchField label={t('gallery:lot')} testId="lot" size={10} value={filters.lot} onApply={(lot) => set({ lot })} />
        {filters.lot && (
          <a data-testid="lot-page" href={lotHref(filters.lot)}>
            {t('gallery:lotPage')}
          </a>
        )}
        <TimeBound label={t('gallery:from')} testId="from" value={filters.from} onChange={(from) => set({ from })} />
        <TimeBound label={t('gallery:to')} testId="to" value={filters.to} onChange={(to) => set({ to })} />
        <a class="csv" data-testid="csv" href={`/api/inspections.csv?${filterQuery()}`} download>
          CSV
        </a>
        {quality && <DatasetExport from={filters.from} to={filters.to} />}
        <label class="live">
          <input type="checkbox" checked={live} onChange={(e) => setLive((e.target as HTMLInputElement).checked)} /> {t('gallery:live')}
        </label>
        {quality && queue && (
          <label>
            <input
              type="checkbox"
              data-testid="advance"
              checked={advance}
              onChange={(e) => {
                const on = (e.target as HTMLInputElement).checked;
                localStorage.setItem('review.advance', on ? 'on' : 'off');
                setAdvance(on);
              }}
            />{' '}
            {t('gallery:advance')}
          </label>
        )}
        {counters && (
          <span class="counters" data-testid="live-counters">
            {t('gallery:counters', counters)}
          </span>
        )}
      </div>
      {quality && (selected.size > 0 || bulkMsg) && (
        <div class="bulk" data-testid="bulk-bar" {...inert}>
          {selected.size > 0 && (
            <>
              <span>{t('gallery:selected', { count: selected.size })}</span>
              <button type="button" onClick={() => void bulk('confirmed')}>
                {t('review:confirm')}
              </button>
              {filters.verdict !== 'pass' && (
                <button type="button" onClick={() => void bulk('false_reject')}>
                  {t('review:falseReject')}
                </button>
              )}
              <button type="button" onClick={() => setSelected(new Set())}>
                {t('gallery:clearSelection')}
              </button>
            </>
          )}
          {bulkMsg && (
            <span class="note" data-testid="bulk-result">
              {bulkMsg}
            </span>
          )}
        </div>
      )}
      {quality && items.length > 0 && (
        <p class="select-all" {...inert}>
          <button type="button" data-testid="select-all" onClick={() => setSelected(new Set(items.map((x) => x.id)))}>
            {t('gallery:selectAll', { count: items.length })}
          </button>
        </p>
      )}
      <div class="grid" {...inert}>
        {items.map((it) => {
          // The finding the filter asked for, else the part's top one.
          const shown = (filters.class && it.defects.find((d) => d.class === filters.class)) || it.defects[0];
          return (
            <div class={`card ${it.verdict}${selected.has(it.id) ? ' selected' : ''}`}>
              <a href={href(it.id)} data-testid="card">
                {it.images.includes('thumb') ? (
                  <img src={`/api/inspections/${it.id}/image?variant=thumb`} alt={t('gallery:partAlt', { seq: it.partSeq })} loading="lazy" />
                ) : (
                  <div class="noimg">{t('gallery:noImage')}</div>
                )}
                <span>
                  {it.partId ?? `#${it.partSeq}`} {it.verdict}
                  {shown ? ` · ${shown.class} ${shown.score.toFixed(2)}` : it.errorCode ? ` · ${it.errorCode}` : ''}
                  {it.review && (
                    <b class={`badge ${it.review.label}`} data-testid="badge">
                      {labelText(it.review.label)}
                    </b>
                  )}
                </span>
              </a>
              {quality && (
                <label class="pick">
                  <input
                    type="checkbox"
                    data-testid="pick"
                    checked={selected.has(it.id)}
                    onChange={() => toggle(it.id)}
                    aria-label={t('gallery:select', { part: it.partId ?? `#${it.partSeq}` })}
                  />
                </label>
              )}
            </div>
          );
        })}
      </div>
      <div ref={sentinel} class="muted pad" {...inert}>
        {cursor === null ? (items.length ? t('gallery:end') : t('gallery:none')) : t('loading')}
      </div>
      {openId !== null && <Detail id={openId} me={me} prev={prev} next={next} href={href} last={last} onUndo={() => void undo()} onReviewed={onReviewed} />}
    </>
  );
}
