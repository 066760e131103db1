import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type Inspection, type Me, type StationInfo } from './api.js';
import { Detail } from './detail.js';
import { lotHref } from './lot.js';

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

export function Gallery({ me, openId }: { me: Me; openId: number | null; query: URLSearchParams }) {
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
