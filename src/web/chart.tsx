import { useEffect, useRef } from 'preact/hooks';
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import { t } from './i18n.js';

Chart.register(LineController, LineElement, PointElement, BarController, BarElement, CategoryScale, LinearScale, Tooltip, Legend);

/** A chart's numbers as a table: what a screen reader reads instead of the canvas, and what a person can copy. */
export interface ChartTable {
  /** The first column's heading (the x axis). */
  label: string;
  columns: string[];
  rows: { label: string; values: (string | number | null)[] }[];
}

/** A curve's points as a table (x, y to 3 decimals). */
export function curveTable(x: string, y: string, points: { x: number | null; y: number | null }[]): ChartTable {
  return { label: x, columns: [y], rows: points.map((p) => ({ label: p.x?.toFixed(3) ?? '–', values: [p.y?.toFixed(3) ?? null] })) };
}

/** Saves the chart as a PNG (drawn on the page's background, so it reads in a report as on screen). */
function savePng(canvas: HTMLCanvasElement, name: string): void {
  const out = document.createElement('canvas');
  out.width = canvas.width;
  out.height = canvas.height;
  const g = out.getContext('2d')!;
  g.fillStyle = getComputedStyle(canvas).getPropertyValue('--panel') || getComputedStyle(document.body).backgroundColor || '#fff';
  g.fillRect(0, 0, out.width, out.height);
  g.drawImage(canvas, 0, 0);
  out.toBlob((blob) => {
    if (!blob) return;
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${name}.png`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }, 'image/png');
}

/**
 * A Chart.js chart, redrawn when its data changes, with its text alternative: the canvas is an
 * image named `title`, and the same numbers follow as a table (folded away on screen). A button
 * saves it as a PNG named `file`.
 */
export function ChartBox({ config, title, file, table }: { config: ConstructorParameters<typeof Chart>[1]; title: string; file: string; table: ChartTable }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = new Chart(ref.current!, config);
    return () => c.destroy();
  }, [JSON.stringify(config.data), JSON.stringify(config.options?.scales ?? {})]);
  return (
    <figure class="chart-figure">
      <div class="chart">
        <canvas ref={ref} role="img" aria-label={title} data-testid={`chart-${file}`} />
      </div>
      <figcaption>
        <button type="button" data-testid={`png-${file}`} onClick={() => ref.current && savePng(ref.current, file)}>
          {t('stats:chart.png')}
        </button>
        <details>
          <summary>{t('stats:chart.table')}</summary>
          <div class="table-scroll">
            <table data-testid={`table-${file}`}>
              <caption class="sr-only">{title}</caption>
              <thead>
                <tr>
                  <th scope="col">{table.label}</th>
                  {table.columns.map((c) => (
                    <th scope="col">{c}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {table.rows.map((r) => (
                  <tr>
                    <th scope="row">{r.label}</th>
                    {r.values.map((v) => (
                      <td>{v ?? '–'}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      </figcaption>
    </figure>
  );
}
