import { useEffect, useRef, useState } from 'preact/hooks';
import type { Inspection } from './api.js';

/**
 * The part's images: the left pane of the detail view. Owns its zoom, pan and layers; `o` toggles
 * overlay and original.
 */
export function Viewer({ it }: { it: Inspection }) {
  const [variant, setVariant] = useState<'overlay' | 'original'>('overlay');
  const [boxes, setBoxes] = useState(true);
  const [view, setView] = useState({ scale: 1, x: 0, y: 0 });
  const drag = useRef<{ x: number; y: number } | null>(null);
  useEffect(() => setView({ scale: 1, x: 0, y: 0 }), [it.id]);
  useEffect(() => {
    const on = (e: KeyboardEvent) => {
      if ((e.target as HTMLElement).tagName === 'INPUT' || (e.target as HTMLElement).tagName === 'TEXTAREA') return;
      if (e.key === 'o') setVariant((v) => (v === 'overlay' ? 'original' : 'overlay'));
    };
    addEventListener('keydown', on);
    return () => removeEventListener('keydown', on);
  });
  const size = it.imageInfo?.find((i) => i.variant === 'original');
  return (
    <div class="viewer-pane">
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
    </div>
  );
}

/** Every finding of the part, with its score and whether it counted. */
export function Findings({ it }: { it: Inspection }) {
  return (
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
  );
}
