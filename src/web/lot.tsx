import { useEffect, useRef, useState } from 'preact/hooks';
import type { LotSummary } from '../store/lot-summary.js';
import { api, ApiError, type Inspection } from './api.js';
import { fmtDateTime, fmtNumber, fmtPercent, t } from './i18n.js';

/** Where the gallery shows a lot. */
export const lotHref = (lot: string) => `#/lot/${encodeURIComponent(lot)}`;

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
  if (summary === undefined) return <p class="muted pad">{t('lot:loading', { lot })}</p>;
  if (summary === null)
    return (
      <p class="pad" data-testid="lot-missing">
        {t('lot:missing', { lot })} <a href="#/">{t('lot:back')}</a>
      </p>
    );
  const s = summary;
  return (
    <div class="lot">
      <h2>{t('lot:heading', { lot: s.lot })}</h2>
      <p class="muted">
        {s.stations.join(', ')} · {fmtDateTime(s.first)} – {fmtDateTime(s.last)} · {t('lot:upTo', { id: s.asOfId })}
      </p>
      <p class="downloads">
        {t('lot:report')}:{' '}
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
            <th>{t('lot:parts')}</th>
            <td data-testid="lot-parts">{s.parts}</td>
            <th>{t('verdict.pass')}</th>
            <td data-testid="lot-pass">{s.pass}</td>
            <th>{t('verdict.fail')}</th>
            <td data-testid="lot-fail">{s.fail}</td>
            <th>{t('verdict.uninspected')}</th>
            <td data-testid="lot-uninspected">{s.uninspected}</td>
          </tr>
          <tr>
            <th>{t('lot:yield')}</th>
            <td data-testid="lot-yield">{fmtPercent(s.yield, 2)}</td>
            <th>{t('lot:afterReviews')}</th>
            <td>{fmtPercent(s.reviewedYield, 2)}</td>
            <th>{t('lot:reviewed')}</th>
            <td>{s.reviews.reviewed}</td>
            <th>{t('lot:frEsc')}</th>
            <td>
              {s.reviews.falseRejects} · {s.reviews.escapes}
            </td>
          </tr>
        </tbody>
      </table>
      <h3>{t('lot:byClass')}</h3>
      {s.rejectsByClass.length === 0 ? (
        <p class="muted">{t('lot:none')}</p>
      ) : (
        <table class="metrics" data-testid="lot-classes">
          <thead>
            <tr>
              <th>{t('lot:class')}</th>
              <th>{t('lot:parts')}</th>
              <th>{t('lot:findings')}</th>
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
          {t('lot:codeRejects', { noRead: s.codeRejects.noRead, mismatch: s.codeRejects.mismatch })}
        </p>
      )}
      {s.uninspectedByCode.length > 0 && (
        <p class="muted">
          {t('verdict.uninspected')}: {s.uninspectedByCode.map((c) => `${c.code} ${c.parts}`).join(' · ')}
        </p>
      )}
      <p class="muted">
        {t('lot:recipes')}: {s.recipes.map((r) => `${r.name} v${r.version ?? '?'} (${r.parts})`).join(', ')}
        {s.chainHeads.map((h) => (
          <>
            <br />
            {t('lot:chainHead', { station: h.station, id: h.id })} <code>{h.hash}</code>
          </>
        ))}
      </p>
      <h3>{t('lot:partsHeading')}</h3>
      <div class="grid">
        {items.map((it) => (
          <a class={`card ${it.verdict}`} href={`#/inspection/${it.id}`} data-testid="lot-card">
            {it.images.includes('thumb') ? (
              <img src={`/api/inspections/${it.id}/image?variant=thumb`} alt={t('lot:partAlt', { part: it.partId ?? it.partSeq })} loading="lazy" />
            ) : (
              <div class="noimg">{t('lot:noImage')}</div>
            )}
            <span>
              {it.partId ?? `#${it.partSeq}`} {it.verdict}
              {it.defects[0] ? ` · ${it.defects[0].class}` : it.errorCode ? ` · ${it.errorCode}` : ''}
            </span>
          </a>
        ))}
      </div>
      <p class="pad muted">
        {t('lot:shown', { shown: fmtNumber(items.length), parts: fmtNumber(s.parts) })}{' '}
        {cursor ? (
          <button type="button" data-testid="lot-more" onClick={() => void more()}>
            {t('lot:more')}
          </button>
        ) : null}
      </p>
    </div>
  );
}
