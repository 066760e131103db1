import { useEffect, useRef } from 'preact/hooks';
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';

Chart.register(LineController, LineElement, PointElement, BarController, BarElement, CategoryScale, LinearScale, Tooltip, Legend);

/** A Chart.js chart, redrawn when its data changes. */
export function ChartBox({ config }: { config: ConstructorParameters<typeof Chart>[1] }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = new Chart(ref.current!, config);
    return () => c.destroy();
  }, [JSON.stringify(config.data)]);
  return (
    <div class="chart">
      <canvas ref={ref} />
    </div>
  );
}
