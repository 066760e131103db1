import { useMemo, useState } from 'preact/hooks';
import type { StationInfo } from './api.js';
import { ChartBox } from './chart.js';
import { Busy, Problem, useApi } from './ui.js';

/** The Statistics page's windows: the last day, week or month (read from the hourly aggregates). */
const WINDOWS = { '24 h': 1, '7 days': 7, '30 days': 30 } as const;

export function Stats() {
  const [bucket, setBucket] = useState('hour');
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
  const yieldData = yieldReq.data?.buckets ?? [];
  const pareto = paretoReq.data?.classes ?? [];
  const perStation = stationsReq.data?.stations ?? [];
  const failed = yieldReq.error ?? paretoReq.error ?? stationsReq.error;
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
        {!failed && !yieldReq.loading && (
          <span data-testid="totals">
            parts {totals.parts} · reviewed false rejects <b data-testid="false-rejects">{totals.fr}</b> · reviewed escapes {totals.esc}
          </span>
        )}
      </div>
      <Problem error={failed} what="Statistics" />
      <h2>Yield</h2>
      <Busy loading={yieldReq.loading}>
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
      </Busy>
      {perStation.length > 1 && (
        <>
          <h2>Stations side by side</h2>
          <table class={stationsReq.loading ? 'metrics stale' : 'metrics'} data-testid="per-station" aria-busy={stationsReq.loading}>
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
      {/* An answer for the window chosen before stays on screen, greyed, until the new one has come. */}
      <Busy loading={paretoReq.loading}>
        <ChartBox
          config={{
            type: 'bar',
            data: {
              labels: pareto.map((p) => p.class),
              datasets: [
                { type: 'bar', label: 'count', data: pareto.map((p) => p.count), backgroundColor: '#d64545', yAxisID: 'y' },
                { type: 'line', label: 'cumulative share (%)', data: pareto.map((p) => p.cumulative * 100), borderColor: '#555', yAxisID: 'y1', clip: false },
              ],
            },
            options: {
              animation: false,
              // The cumulative line ends at 100 %: the axis leaves room above it so its last point is not cut.
              scales: {
                x: { title: { display: true, text: 'defect class' } },
                y: { beginAtZero: true, title: { display: true, text: 'parts' } },
                y1: {
                  position: 'right',
                  min: 0,
                  max: 105,
                  ticks: { stepSize: 25, callback: (v) => (Number(v) <= 100 ? `${v} %` : '') },
                  title: { display: true, text: 'cumulative share' },
                },
              },
            },
          }}
        />
      </Busy>
    </section>
  );
}
