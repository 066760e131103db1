import { useEffect, useRef, useState } from 'preact/hooks';
import type { LotSummary } from '../store/lot-summary.js';
import { api, ApiError, type Inspection } from './api.js';

/** Where the gallery shows a lot. */
export const lotHref = (lot: string) => `#/lot/${encodeURIComponent(lot)}`;

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
const PAGE = 48;

/**
 * A lot's page (issue #19, genealogy): its counts, yield and rejects by class from the summary,
 * every part as a thumbnail in capture pages of the listing (`lot=`, newest first, "Load more"),
 * and the lot report to download as PDF, CSV or JSON.
 */
export function LotPage({ lot }: { lot: string }) {
  const [summary, setSummary] = useState<LotSummary | null | undefined>(undefined);
  const [items, setItems] = useState<Inspection[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState('');
  const loading = useRef(false);
  const path = `/api/lots/${encodeURIComponent(lot)}`;

  const more = async (reset = false) => {
    if (loading.current || (!reset && cursor === null)) return;
    loading.current = true;
    try {
      const q = new URLSearchParams({ lot, limit: String(PAGE) });
      if (!reset && cursor) q.set('cursor', cursor);
      const r = await api<{ items: Inspection[]; nextCursor: string | null }>('GET', `/api/inspections?${q}`);
      setItems((prev) => (reset ? r.items : [...prev, ...r.items]));
      setCursor(r.nextCursor);
    } finally {
      loading.current = false;
    }
  };
  useEffect(() => {
    setSummary(undefined);
    setError('');
    api<LotSummary>('GET', path).then(setSummary, (e) => {
      if (e instanceof ApiError && e.status === 404) setSummary(null);
      else setError(String(e.message ?? e));
    });
    void more(true);
  }, [lot]);

  if (error) return <p class="error pad">{error}</p>;
  if (summary === undefined) return <p class="muted pad">Loading lot {lot}…</p>;
  if (summary === null)
    return (
      <p class="pad" data-testid="lot-missing">
        No record names lot {lot}. <a href="#/">Back to the gallery</a>
      </p>
    );
  const s = summary;
  return (
    <div class="lot">
      <h2>Lot {s.lot}</h2>
      <p class="muted">
        {s.stations.join(', ')} · {new Date(s.first).toLocaleString()} – {new Date(s.last).toLocaleString()} · records up to #{s.asOfId}
      </p>
      <p class="downloads">
        Lot report:{' '}
        <a data-testid="report-pdf" href={`${path}/report.pdf`} download>
          PDF
        </a>{' '}
        ·{' '}
        <a data-testid="report-csv" href={`${path}/report.csv`} download>
          CSV
        </a>{' '}
        ·{' '}
        <a data-testid="report-json" href={`${path}/report.json`} download>
          JSON
        </a>
      </p>
      <table class="metrics lot-counts">
        <tbody>
          <tr>
            <th>parts</th>
            <td data-testid="lot-parts">{s.parts}</td>
            <th>pass</th>
            <td data-testid="lot-pass">{s.pass}</td>
            <th>fail</th>
            <td data-testid="lot-fail">{s.fail}</td>
            <th>uninspected</th>
            <td data-testid="lot-uninspected">{s.uninspected}</td>
          </tr>
          <tr>
            <th>yield</th>
            <td data-testid="lot-yield">{pct(s.yield)}</td>
            <th>after reviews</th>
            <td>{pct(s.reviewedYield)}</td>
            <th>reviewed</th>
            <td>{s.reviews.reviewed}</td>
            <th>false rejects · escapes</th>
            <td>
              {s.reviews.falseRejects} · {s.reviews.escapes}
            </td>
          </tr>
        </tbody>
      </table>
      <h3>Rejects by class</h3>
      {s.rejectsByClass.length === 0 ? (
        <p class="muted">none</p>
      ) : (
        <table class="metrics" data-testid="lot-classes">
          <thead>
            <tr>
              <th>class</th>
              <th>parts</th>
              <th>findings</th>
            </tr>
          </thead>
          <tbody>
            {s.rejectsByClass.map((c) => (
              <tr>
                <td>{c.class}</td>
                <td>{c.parts}</td>
                <td>{c.findings}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {(s.codeRejects.noRead > 0 || s.codeRejects.mismatch > 0) && (
        <p class="muted" data-testid="lot-code-rejects">
          by the code read: no-read {s.codeRejects.noRead} · code-mismatch {s.codeRejects.mismatch}
        </p>
      )}
      {s.uninspectedByCode.length > 0 && <p class="muted">uninspected: {s.uninspectedByCode.map((c) => `${c.code} ${c.parts}`).join(' · ')}</p>}
      <p class="muted">
        recipes: {s.recipes.map((r) => `${r.name} v${r.version ?? '?'} (${r.parts})`).join(', ')}
        {s.chainHeads.map((h) => (
          <>
            <br />
            chain head: station {h.station}, record #{h.id}, hash <code>{h.hash}</code>
          </>
        ))}
      </p>
      <h3>Parts</h3>
      <div class="grid">
        {items.map((it) => (
          <a class={`card ${it.verdict}`} href={`#/inspection/${it.id}`} data-testid="lot-card">
            {it.images.includes('thumb') ? (
              <img src={`/api/inspections/${it.id}/image?variant=thumb`} alt={`part ${it.partId ?? it.partSeq}`} loading="lazy" />
            ) : (
              <div class="noimg">no image</div>
            )}
            <span>
              {it.partId ?? `#${it.partSeq}`} {it.verdict}
              {it.defects[0] ? ` · ${it.defects[0].class}` : it.errorCode ? ` · ${it.errorCode}` : ''}
            </span>
          </a>
        ))}
      </div>
      <p class="pad muted">
        {items.length} of {s.parts} shown{' '}
        {cursor ? (
          <button type="button" data-testid="lot-more" onClick={() => void more()}>
            Load more
          </button>
        ) : null}
      </p>
    </div>
  );
}
