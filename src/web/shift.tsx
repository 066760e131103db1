import { useState } from 'preact/hooks';
import { fmtDateTime, fmtNumber, fmtPercent, fmtTime, plantLocalOf, t } from './i18n.js';
import { Loading, Problem, useApi } from './ui.js';

interface Plant {
  timeZone: string;
  shifts: { name: string; start: string }[];
  now: { shift: string; shiftStart: string; dayStart: string };
}

interface ShiftReport {
  shift: { name: string; date: string; from: string; to: string };
  timeZone: string;
  running: boolean;
  generatedAt: string;
  totals: {
    parts: number;
    pass: number;
    fail: number;
    uninspected: number;
    yield: number | null;
    reviewedYield: number | null;
    falseRejects: number;
    escapes: number;
  };
  hours: { start: string; parts: number; yield: number | null }[];
  rejectsByClass: { class: string; count: number; share: number }[];
  facts: {
    topRejects: { id: number; station: string; partSeq: number; partId: string | null; capturedAt: string; maxScore: number; class: string | null }[];
    uninspectedByCode: { code: string; parts: number }[];
    changes: { at: string; actor: string; action: string; target: string }[];
  };
}

/** The shift report page: one shift of the plant (the running one first), as the hand-over reads it, with its PDF. */
export function ShiftPage() {
  const plant = useApi<Plant>('/api/plant');
  // '' / '': the shift running now.
  const [date, setDate] = useState('');
  const [shift, setShift] = useState('');
  const q = new URLSearchParams();
  if (date) q.set('date', date);
  if (shift) q.set('shift', shift);
  const rep = useApi<ShiftReport>(plant.data ? `/api/reports/shift?${q}` : null);
  const r = rep.data;
  return (
    <section class="shift-report">
      <h2>{t('shift:heading')}</h2>
      <div class="filters">
        <label>
          {t('shift:day')}{' '}
          <input
            type="date"
            data-testid="shift-date"
            value={date || (r ? r.shift.date : plant.data ? plantLocalOf(plant.data.now.dayStart).slice(0, 10) : '')}
            onChange={(e) => setDate((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          {t('shift:shift')}{' '}
          <select data-testid="shift-name" value={shift || r?.shift.name || ''} onChange={(e) => setShift((e.target as HTMLSelectElement).value)}>
            {(plant.data?.shifts ?? []).map((s) => (
              <option value={s.name}>{t('shift:option', { name: s.name, start: s.start })}</option>
            ))}
          </select>
        </label>
        {r && (
          <a data-testid="shift-pdf" href={`/api/reports/shift.pdf?${new URLSearchParams({ date: r.shift.date, shift: r.shift.name })}`} download>
            PDF
          </a>
        )}
      </div>
      <Problem error={plant.error ?? rep.error} what={t('shift:heading')} />
      {!r ? (
        !(plant.error ?? rep.error) && <Loading />
      ) : (
        <div class={rep.loading ? 'stale' : ''} aria-busy={rep.loading}>
          <p class="muted" data-testid="shift-window">
            {t('shift:window', { from: fmtDateTime(r.shift.from), to: fmtTime(r.shift.to) })}
            {r.running ? ` · ${t('shift:running')}` : ''}
          </p>
          <table class="metrics" data-testid="shift-totals">
            <tbody>
              <tr>
                <th>{t('shift:parts')}</th>
                <td data-testid="shift-parts">{fmtNumber(r.totals.parts)}</td>
                <th>{t('shift:yield')}</th>
                <td data-testid="shift-yield">{fmtPercent(r.totals.yield, 2)}</td>
              </tr>
              <tr>
                <th>{t('verdict.pass')}</th>
                <td>{fmtNumber(r.totals.pass)}</td>
                <th>{t('shift:reviewedYield')}</th>
                <td>{fmtPercent(r.totals.reviewedYield, 2)}</td>
              </tr>
              <tr>
                <th>{t('verdict.fail')}</th>
                <td>{fmtNumber(r.totals.fail)}</td>
                <th>{t('shift:falseRejects')}</th>
                <td>{fmtNumber(r.totals.falseRejects)}</td>
              </tr>
              <tr>
                <th>{t('verdict.uninspected')}</th>
                <td>{fmtNumber(r.totals.uninspected)}</td>
                <th>{t('shift:escapes')}</th>
                <td>{fmtNumber(r.totals.escapes)}</td>
              </tr>
            </tbody>
          </table>
          <h3>{t('shift:perHour')}</h3>
          {r.hours.length === 0 ? (
            <p class="muted">{t('shift:noParts')}</p>
          ) : (
            <div class="table-scroll">
              <table data-testid="shift-hours">
                <thead>
                  <tr>
                    <th>{t('shift:hour')}</th>
                    <th>{t('shift:parts')}</th>
                    <th>{t('shift:yield')}</th>
                  </tr>
                </thead>
                <tbody>
                  {r.hours.map((h) => (
                    <tr>
                      <td>{fmtTime(h.start)}</td>
                      <td>{fmtNumber(h.parts)}</td>
                      <td>{fmtPercent(h.yield)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <h3>{t('shift:byClass')}</h3>
          {r.rejectsByClass.length === 0 ? (
            <p class="muted">{t('shift:none')}</p>
          ) : (
            <ul data-testid="shift-classes">
              {r.rejectsByClass.map((c) => (
                <li>{t('shift:classLine', { class: c.class, count: c.count, share: fmtPercent(c.share) })}</li>
              ))}
            </ul>
          )}
          <h3>{t('shift:topRejects')}</h3>
          {r.facts.topRejects.length === 0 ? (
            <p class="muted">{t('shift:none')}</p>
          ) : (
            <div class="grid" data-testid="shift-top">
              {r.facts.topRejects.map((p) => (
                <a class="card fail" href={`#/inspection/${p.id}?verdict=`} data-testid="shift-reject">
                  <img src={`/api/inspections/${p.id}/image?variant=thumb`} alt={t('shift:partAlt', { part: p.partId ?? `#${p.partSeq}` })} loading="lazy" />
                  <span>
                    {p.partId ?? `#${p.partSeq}`} · {p.class ?? '?'} {p.maxScore.toFixed(2)} · {fmtTime(p.capturedAt)}
                  </span>
                </a>
              ))}
            </div>
          )}
          <h3>{t('shift:causes')}</h3>
          {r.facts.uninspectedByCode.length === 0 ? (
            <p class="muted">{t('shift:allDecided')}</p>
          ) : (
            <ul data-testid="shift-causes">
              {r.facts.uninspectedByCode.map((c) => (
                <li>
                  <code>{c.code}</code>: {fmtNumber(c.parts)}
                </li>
              ))}
            </ul>
          )}
          <h3>{t('shift:changes')}</h3>
          {r.facts.changes.length === 0 ? (
            <p class="muted">{t('shift:none')}</p>
          ) : (
            <ul data-testid="shift-changes">
              {r.facts.changes.map((c) => (
                <li>
                  {fmtTime(c.at)} · {c.actor} · {c.action} {c.target}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
