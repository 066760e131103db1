import { useMemo, useState } from 'preact/hooks';
import type { StationInfo } from './api.js';
import { ChartBox } from './chart.js';
import { fmtDateTime, fmtNumber, fmtPercent, t } from './i18n.js';
import { Busy, Problem, useApi } from './ui.js';

/** The Statistics page's windows, in days: the last day, week or month (read from the hourly aggregates). */
const WINDOWS = [1, 7, 30] as const;
const BUCKETS = ['hour', 'shift', 'day'] as const;
/** Score histograms: 20 bins of 0.05. */
const HISTOGRAM_BINS = 20;

interface Histograms {
  edges: number[];
  classes: { class: string; counts: number[]; rejecting: number[] }[];
}

const pct = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 10);

export function Stats() {
  const [bucket, setBucket] = useState<(typeof BUCKETS)[number]>('hour');
  const [scope, setScope] = useState('');
  const [days, setDays] = useState<number>(7);
  const stations = useApi<{ items: StationInfo[] }>('/api/stations').data?.items ?? [];
  // Scope: "" all, "station:ID" or "line:NAME". The window's start is fixed when the window is chosen
  // (a new one on every render would refetch without end).
  const from = useMemo(() => new Date(Date.now() - days * 24 * 3600 * 1000).toISOString(), [days]);
  const scopeQuery =
    `&from=${encodeURIComponent(from)}` +
    (scope ? `&${scope.startsWith('line:') ? 'line' : 'station'}=${encodeURIComponent(scope.slice(scope.indexOf(':') + 1))}` : '');
  const yieldReq = useApi<{
    buckets: { start: string; parts: number; yield: number | null; reviewedYield: number | null; falseRejects: number; escapes: number }[];
  }>(`/api/stats/yield?bucket=${bucket}${scopeQuery}`);
  const paretoReq = useApi<{ classes: { class: string; count: number; cumulative: number }[] }>(`/api/stats/pareto?${scopeQuery.slice(1)}`);
  const stationsReq = useApi<{
    stations: { station: string; line: string; parts: number; pass: number; fail: number; uninspected: number; rejectRate: number | null }[];
  }>(`/api/stats/stations?${scopeQuery.slice(1)}`);
  const scoresReq = useApi<Histograms>(`/api/stats/scores?bins=${HISTOGRAM_BINS}${scopeQuery}`);
  const yieldData = yieldReq.data?.buckets ?? [];
  const pareto = paretoReq.data?.classes ?? [];
  const perStation = stationsReq.data?.stations ?? [];
  const failed = yieldReq.error ?? paretoReq.error ?? stationsReq.error ?? scoresReq.error;
  const totals = useMemo(
    () => yieldData.reduce((a, b) => ({ parts: a.parts + b.parts, fr: a.fr + b.falseRejects, esc: a.esc + b.escapes }), { parts: 0, fr: 0, esc: 0 }),
    [yieldData],
  );
  const when = (iso: string) => fmtDateTime(iso, bucket === 'day' ? { hour: undefined, minute: undefined } : {});
  const yieldTitle = t('stats:yieldTitle', { bucket: t(`stats:bucket.${bucket}`) });
  const paretoTitle = t('stats:paretoTitle');
  return (
    <section class="stats">
      <h2 class="sr-only">{t('stats:heading')}</h2>
      <div class="filters">
        <label>
          {t('stats:last')}{' '}
          <select data-testid="window" value={String(days)} onChange={(e) => setDays(Number((e.target as HTMLSelectElement).value))}>
            {WINDOWS.map((d) => (
              <option value={String(d)}>{t(`stats:window.${d}`)}</option>
            ))}
          </select>
        </label>
        <label>
          {t('stats:per')}{' '}
          <select value={bucket} onChange={(e) => setBucket((e.target as HTMLSelectElement).value as (typeof BUCKETS)[number])}>
            {BUCKETS.map((b) => (
              <option value={b}>{t(`stats:bucket.${b}`)}</option>
            ))}
          </select>
        </label>
        {stations.length > 1 && (
          <label>
            {t('stats:stations')}{' '}
            <select value={scope} onChange={(e) => setScope((e.target as HTMLSelectElement).value)}>
              <option value="">{t('stats:allStations')}</option>
              {[...new Set(stations.map((st) => st.line).filter(Boolean))].map((l) => (
                <option value={`line:${l}`}>{t('stats:line', { line: l })}</option>
              ))}
              {stations.map((st) => (
                <option value={`station:${st.id}`}>{st.id}</option>
              ))}
            </select>
          </label>
        )}
        {!failed && !yieldReq.loading && (
          <span data-testid="totals">
            {t('stats:parts')} {totals.parts} · {t('stats:reviewedFalseRejects')} <b data-testid="false-rejects">{totals.fr}</b> · {t('stats:reviewedEscapes')}{' '}
            {totals.esc}
          </span>
        )}
      </div>
      <Problem error={failed} what={t('stats:heading')} />
      <h3>{t('stats:yield')}</h3>
      <Busy loading={yieldReq.loading}>
        <ChartBox
          title={yieldTitle}
          file={`yield-${bucket}`}
          table={{
            label: t(`stats:bucket.${bucket}`),
            columns: [t('stats:parts'), t('stats:yieldStation'), t('stats:yieldReviewed')],
            rows: yieldData.map((b) => ({ label: when(b.start), values: [b.parts, fmtPercent(b.yield), fmtPercent(b.reviewedYield)] })),
          }}
          config={{
            type: 'line',
            data: {
              labels: yieldData.map((b) => when(b.start)),
              datasets: [
                { label: t('stats:yieldStation'), data: yieldData.map((b) => pct(b.yield)), borderColor: '#1f77b4' },
                { label: t('stats:yieldReviewed'), data: yieldData.map((b) => pct(b.reviewedYield)), borderColor: '#2ca02c' },
              ],
            },
            options: {
              animation: false,
              scales: {
                x: { title: { display: true, text: t(`stats:bucket.${bucket}`) } },
                y: { min: 0, max: 100, ticks: { callback: (v) => `${v} %` }, title: { display: true, text: t('stats:yield') } },
              },
            },
          }}
        />
      </Busy>
      {perStation.length > 1 && (
        <>
          <h3>{t('stats:sideBySide')}</h3>
          <div class="table-scroll">
            <table class={stationsReq.loading ? 'metrics stale' : 'metrics'} data-testid="per-station" aria-busy={stationsReq.loading}>
              <thead>
                <tr>
                  <th>{t('stats:col.station')}</th>
                  <th>{t('stats:col.line')}</th>
                  <th>{t('stats:parts')}</th>
                  <th>{t('verdict.pass')}</th>
                  <th>{t('verdict.fail')}</th>
                  <th>{t('verdict.uninspected')}</th>
                  <th>{t('stats:col.rejectRate')}</th>
                </tr>
              </thead>
              <tbody>
                {perStation.map((r) => (
                  <tr>
                    <td>{r.station}</td>
                    <td>{r.line}</td>
                    <td>{fmtNumber(r.parts)}</td>
                    <td>{fmtNumber(r.pass)}</td>
                    <td>{fmtNumber(r.fail)}</td>
                    <td>{fmtNumber(r.uninspected)}</td>
                    <td>{fmtPercent(r.rejectRate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      <h3>{paretoTitle}</h3>
      {/* An answer for the window chosen before stays on screen, greyed, until the new one has come. */}
      <Busy loading={paretoReq.loading}>
        <ChartBox
          title={paretoTitle}
          file="pareto"
          table={{
            label: t('stats:class'),
            columns: [t('stats:rejectedParts'), t('stats:cumulative')],
            rows: pareto.map((p) => ({ label: p.class, values: [p.count, fmtPercent(p.cumulative)] })),
          }}
          config={{
            type: 'bar',
            data: {
              labels: pareto.map((p) => p.class),
              datasets: [
                { type: 'bar', label: t('stats:rejectedParts'), data: pareto.map((p) => p.count), backgroundColor: '#d64545', yAxisID: 'y' },
                {
                  type: 'line',
                  label: t('stats:cumulative'),
                  data: pareto.map((p) => p.cumulative * 100),
                  borderColor: '#555',
                  yAxisID: 'y1',
                  clip: false,
                },
              ],
            },
            options: {
              animation: false,
              // The cumulative line ends at 100 %: the axis leaves room above it so its last point is not cut.
              scales: {
                x: { title: { display: true, text: t('stats:class') } },
                y: { beginAtZero: true, title: { display: true, text: t('stats:rejectedParts') } },
                y1: {
                  position: 'right',
                  min: 0,
                  max: 105,
                  ticks: { stepSize: 25, callback: (v) => (Number(v) <= 100 ? `${v} %` : '') },
                  title: { display: true, text: t('stats:cumulative') },
                },
              },
            },
          }}
        />
      </Busy>
      <h3>{t('stats:scores')}</h3>
      <p class="muted">{t('stats:scoresHelp')}</p>
      <Busy loading={scoresReq.loading}>
        <div class="histograms" data-testid="histograms">
          {(scoresReq.data?.classes ?? []).map((h) => (
            <Histogram h={h} edges={scoresReq.data!.edges} />
          ))}
          {scoresReq.data && scoresReq.data.classes.length === 0 && <p class="muted">{t('stats:noFindings')}</p>}
        </div>
      </Busy>
    </section>
  );
}

/** One class's findings by score: those that rejected the part stacked on those that did not. */
function Histogram({ h, edges }: { h: Histograms['classes'][number]; edges: number[] }) {
  const bins = h.counts.map((_, i) => `${edges[i].toFixed(2)}–${edges[i + 1].toFixed(2)}`);
  const title = t('stats:scoresTitle', { class: h.class });
  return (
    <ChartBox
      title={title}
      file={`scores-${h.class}`}
      table={{
        label: t('stats:score'),
        columns: [t('stats:rejecting'), t('stats:notRejecting')],
        rows: bins.map((b, i) => ({ label: b, values: [h.rejecting[i], h.counts[i] - h.rejecting[i]] })),
      }}
      config={{
        type: 'bar',
        data: {
          labels: bins,
          datasets: [
            { label: t('stats:rejecting'), data: h.rejecting, backgroundColor: '#d64545' },
            { label: t('stats:notRejecting'), data: h.counts.map((c, i) => c - h.rejecting[i]), backgroundColor: '#8a94a6' },
          ],
        },
        options: {
          animation: false,
          plugins: { title: { display: false } },
          scales: {
            x: { stacked: true, title: { display: true, text: `${h.class}: ${t('stats:score')}` } },
            y: { stacked: true, beginAtZero: true, title: { display: true, text: t('stats:findings') } },
          },
        },
      }}
    />
  );
}
