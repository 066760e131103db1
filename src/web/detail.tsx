import { useEffect, useState } from 'preact/hooks';
import { api, can, type Inspection, type Me } from './api.js';
import { lotHref } from './lot.js';
import { Loading, Problem, useApi } from './ui.js';
import { Findings, Viewer } from './viewer.js';

export function Detail({ id, me, prev, next, onReviewed }: { id: number; me: Me; prev: number | null; next: number | null; onReviewed: () => void }) {
  const { data: it, error, reload } = useApi<Inspection>(`/api/inspections/${id}`);
  const [msg, setMsg] = useState('');

  const review = async (label: string) => {
    let cls: string | undefined;
    if (label === 'escape') {
      cls = prompt('Class of the defect the station missed') ?? undefined;
      if (!cls) return;
    }
    try {
      await api('POST', `/api/inspections/${id}/review`, { label, class: cls });
      setMsg(`Marked ${label.replace('_', ' ')}`);
      await reload();
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
      else if (can(me, 'quality') && e.key === 'c') void review('confirmed');
      else if (can(me, 'quality') && e.key === 'f') void review('false_reject');
      else if (can(me, 'quality') && e.key === 'e') void review('escape');
    };
    addEventListener('keydown', on);
    return () => removeEventListener('keydown', on);
  });
  // A part that does not exist (or a failed request) says so; it never stays "Loading…".
  if (!it)
    return (
      <div class="modal" role="dialog" aria-label={`inspection ${id}`}>
        <div class="pad">
          {error ? <Problem error={error} what={`inspection ${id}`} /> : <Loading />}
          <a href="#/">close</a>
        </div>
      </div>
    );
  return (
    <div class="modal" role="dialog" aria-label={`inspection ${it.id}`}>
      <Viewer it={it} />
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
        <Findings it={it} />
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
