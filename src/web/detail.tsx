import { useEffect, useRef, useState } from 'preact/hooks';
import { api, can, type Inspection, type Me } from './api.js';
import { lotHref } from './lot.js';

export function Detail({ id, me, prev, next, onReviewed }: { id: number; me: Me; prev: number | null; next: number | null; onReviewed: () => void }) {
  const [it, setIt] = useState<Inspection | null>(null);
  const [variant, setVariant] = useState<'overlay' | 'original'>('overlay');
  const [boxes, setBoxes] = useState(true);
  const [view, setView] = useState({ scale: 1, x: 0, y: 0 });
  const [msg, setMsg] = useState('');
  const drag = useRef<{ x: number; y: number } | null>(null);
  const load = () => api<Inspection>('GET', `/api/inspections/${id}`).then(setIt);
  useEffect(() => {
    setView({ scale: 1, x: 0, y: 0 });
    void load();
  }, [id]);

  const review = async (label: string) => {
    let cls: string | undefined;
    if (label === 'escape') {
      cls = prompt('Class of the defect the station missed') ?? undefined;
      if (!cls) return;
    }
    try {
      await api('POST', `/api/inspections/${id}/review`, { label, class: cls });
      setMsg(`Marked ${label.replace('_', ' ')}`);
      await load();
      onReviewed();
    } catch (err) {
      setMsg((err as Error).message);
    }
  };
  // Keyboard review: c confirmed, f false reject, e escape; arrows step; Esc closes; o toggles overlay.
  useEffect(() => {
    const on = (e: KeyboardEvent) => {
      if ((e.target as HTMLElement).tagName === 'INPUT') return;
      if (e.key === 'Escape') location.hash = '#/';
      else if (e.key === 'ArrowLeft' && prev) location.hash = `#/inspection/${prev}`;
      else if (e.key === 'ArrowRight' && next) location.hash = `#/inspection/${next}`;
      else if (e.key === 'o') setVariant((v) => (v === 'overlay' ? 'original' : 'overlay'));
      else if (can(me, 'quality') && e.key === 'c') void review('confirmed');
      else if (can(me, 'quality') && e.key === 'f') void review('false_reject');
      else if (can(me, 'quality') && e.key === 'e') void review('escape');
    };
    addEventListener('keydown', on);
    return () => removeEventListener('keydown', on);
  });
  if (!it)
    return (
      <div class="modal">
        <p class="pad">Loading…</p>
      </div>
    );
  const size = it.imageInfo?.find((i) => i.variant === 'original');
  return (
    <div class="modal" role="dialog" aria-label={`inspection ${it.id}`}>
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
      <aside>
        <button
          type="button"
          class="close"
          onClick={() => {
            location.hash = '#/';
          }}
          aria-label="close"
        >
          ×
        </button>
        <h2 class={it.verdict}>
          Part {it.partId ? `${it.partId} (#${it.partSeq})` : `#${it.partSeq}`}: {it.verdict}
        </h2>
        {it.lot && (
          <p class="muted">
            lot{' '}
            <a data-testid="lot-link" href={lotHref(it.lot)}>
              {it.lot}
            </a>
          </p>
        )}
        {it.code && (
          <p class="muted" data-testid="code">
            code {it.code}
          </p>
        )}
        <p class="muted">
          {new Date(it.capturedAt).toLocaleString()} · recipe {it.recipe} v{it.recipeVersion?.version ?? '?'} · {it.model?.name ?? ''} ·{' '}
          {it.latencyMs.toFixed(0)} ms
        </p>
        {it.errorCode && <p class="error">{it.errorCode}</p>}
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
        {can(me, 'quality') && (
          <div class="review">
            <button type="button" onClick={() => void review('confirmed')} title="c">
              Confirm (c)
            </button>
            <button type="button" onClick={() => void review('false_reject')} title="f">
              False reject (f)
            </button>
            <button type="button" onClick={() => void review('escape')} title="e">
              Escape (e)
            </button>
          </div>
        )}
        {msg && (
          <p class="note" role="status">
            {msg}
          </p>
        )}
        <h3>Reviews</h3>
        {(it.reviews ?? []).length === 0 ? (
          <p class="muted">None yet.</p>
        ) : (
          <ul>
            {it.reviews!.map((r) => (
              <li>
                {r.label.replace('_', ' ')}
                {r.class ? ` (${r.class})` : ''} by {r.by}, {new Date(r.at).toLocaleString()}
                {r.note ? `: ${r.note}` : ''}
              </li>
            ))}
          </ul>
        )}
        <p class="muted">← → step · o overlay · Esc close</p>
      </aside>
    </div>
  );
}
