import { useEffect, useState } from 'preact/hooks';
import { api, can, type Inspection, type Me } from './api.js';
import { lotHref } from './lot.js';
import { Loading, Problem, useApi } from './ui.js';
import { Findings, Viewer } from './viewer.js';

export function Detail({ id, me, prev, next, onReviewed }: { id: number; me: Me; prev: number | null; next: number | null; onReviewed: () => void }) {
  const { data: it, error, reload } = useApi<Inspection>(`/api/inspections/${id}`);
  // The escape's class is one of the recipe model's labels (the API refuses any other).
  const recipe = useApi<{ labels: string[] }>(it && it.verdict === 'pass' ? `/api/recipes/${encodeURIComponent(it.recipe)}` : null);
  const labels = recipe.data?.labels ?? [];
  const [msg, setMsg] = useState('');
  const [note, setNote] = useState('');
  const [escaping, setEscaping] = useState(false);
  const [escapeClass, setEscapeClass] = useState('');
  useEffect(() => {
    setNote('');
    setEscaping(false);
    setMsg('');
  }, [id]);
  // Which labels fit the verdict: an escape is a defect the station passed, a false reject a good part it rejected.
  const offered = (label: string) => (label === 'escape' ? it?.verdict === 'pass' : label === 'false_reject' ? it?.verdict !== 'pass' : true);

  const review = async (label: string, cls?: string) => {
    if (!offered(label)) return;
    if (label === 'escape' && !cls) {
      setEscaping(true);
      return;
    }
    try {
      const r = await api<{ id: number }>('POST', `/api/inspections/${id}/review`, { label, class: cls, note: note.trim() || undefined });
      const again = it?.reviews?.some((x) => x.id === r.id);
      setMsg(again ? `Already ${label.replace('_', ' ')}: nothing added` : `Marked ${label.replace('_', ' ')}`);
      setNote('');
      setEscaping(false);
      await reload();
      onReviewed();
    } catch (err) {
      setMsg((err as Error).message);
    }
  };
  // Keyboard review: c confirmed, f false reject, e escape; arrows step; Esc closes; o toggles overlay.
  useEffect(() => {
    const on = (e: KeyboardEvent) => {
      if (['INPUT', 'TEXTAREA', 'SELECT'].includes((e.target as HTMLElement).tagName)) return;
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
  const current = it.reviews?.length ? it.reviews[it.reviews.length - 1] : null;
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
        {current && (
          <p class="reviewed" data-testid="reviewed">
            reviewed: <b>{current.label.replace('_', ' ')}</b>
            {current.class ? ` (${current.class})` : ''} by {current.by}
          </p>
        )}
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
            <label class="review-note">
              Note (optional) <textarea rows={2} maxLength={2000} value={note} onInput={(e) => setNote((e.target as HTMLTextAreaElement).value)} />
            </label>
            <button type="button" onClick={() => void review('confirmed')} title="c">
              Confirm (c)
            </button>
            {offered('false_reject') && (
              <button type="button" onClick={() => void review('false_reject')} title="f">
                False reject (f)
              </button>
            )}
            {offered('escape') && (
              <button type="button" onClick={() => void review('escape')} title="e">
                Escape (e)
              </button>
            )}
            {escaping && (
              <form
                class="escape"
                data-testid="escape-form"
                onSubmit={(e) => {
                  e.preventDefault();
                  if (escapeClass) void review('escape', escapeClass);
                }}
              >
                <label>
                  Class of the defect the station missed{' '}
                  <select required value={escapeClass} onChange={(e) => setEscapeClass((e.target as HTMLSelectElement).value)}>
                    <option value="">choose…</option>
                    {labels.map((l) => (
                      <option value={l}>{l}</option>
                    ))}
                  </select>
                </label>
                <button type="submit" disabled={!escapeClass}>
                  Mark escape
                </button>
                <button type="button" onClick={() => setEscaping(false)}>
                  Cancel
                </button>
                <Problem error={recipe.error} what="the recipe's labels" />
              </form>
            )}
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
