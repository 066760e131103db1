import { useEffect, useRef, useState } from 'preact/hooks';
import { api, can, type Inspection, type Me } from './api.js';
import { fmtDateTime, t } from './i18n.js';
import { lotHref } from './lot.js';
import { Loading, Problem, useApi } from './ui.js';
import { Findings, Viewer } from './viewer.js';

/** The review just made (the queue may have moved on since): what the status line says, and what undo takes back. */
export interface LastReview {
  /** The inspection and the review. */
  id: number;
  reviewId: number;
  label: string;
  /** False: the part had that label already, nothing was added. */
  created: boolean;
  part: string;
  /** After an undo: the part's label now. */
  undone?: string;
  error?: string;
}

/** The label a review gives, in the user's language. */
export const labelText = (label: string) => t(`review:label.${label}`, { defaultValue: label });

const partName = (it: Pick<Inspection, 'partId' | 'partSeq'>) => (it.partId ? `${it.partId} (#${it.partSeq})` : `#${it.partSeq}`);

/** What the status line says of the last review. */
function lastText(l: LastReview): string {
  if (l.error) return l.error;
  if (l.undone) return t('review:undone', { part: l.part, now: l.undone });
  return l.created ? t('review:marked', { label: labelText(l.label), part: l.part }) : t('review:already', { label: labelText(l.label) });
}

/** Keeps Tab inside `root` (a modal dialog): from the last focusable element to the first, and back. */
function trapTab(e: KeyboardEvent, root: HTMLElement | null): void {
  if (e.key !== 'Tab' || !root) return;
  const all = [...root.querySelectorAll<HTMLElement>('a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex="0"]')].filter(
    (el) => el.offsetParent !== null,
  );
  if (!all.length) return;
  const first = all[0],
    last = all[all.length - 1];
  const inside = root.contains(document.activeElement);
  if (!inside || (e.shiftKey && document.activeElement === first)) {
    e.preventDefault();
    (e.shiftKey ? last : first).focus();
  } else if (!e.shiftKey && document.activeElement === last) {
    e.preventDefault();
    first.focus();
  }
}

export function Detail(p: {
  id: number;
  me: Me;
  prev: number | null;
  next: number | null;
  href: (id: number | null) => string;
  last: LastReview | null;
  onUndo: () => void;
  onReviewed: (r: LastReview) => void;
}) {
  const { id, me, prev, next, href } = p;
  const { data: it, error, reload } = useApi<Inspection>(`/api/inspections/${id}`);
  // The escape's class is one of the recipe model's labels (the API refuses any other).
  const recipe = useApi<{ labels: string[] }>(it && it.verdict === 'pass' ? `/api/recipes/${encodeURIComponent(it.recipe)}` : null);
  const labels = recipe.data?.labels ?? [];
  const [msg, setMsg] = useState('');
  const [note, setNote] = useState('');
  const [escaping, setEscaping] = useState(false);
  const [escapeClass, setEscapeClass] = useState('');
  const dialog = useRef<HTMLDivElement>(null);
  useEffect(() => {
    setNote('');
    setEscaping(false);
    setMsg('');
  }, [id]);
  // A modal dialog: focus moves into it and stays there (the gallery gives it back to the card on closing).
  useEffect(() => {
    if (!dialog.current?.contains(document.activeElement)) dialog.current?.focus();
  }, [id, it === undefined]);
  const quality = can(me, 'quality');
  // Which labels fit the verdict: an escape is a defect the station passed, a false reject a good part it rejected.
  const offered = (label: string) => (label === 'escape' ? it?.verdict === 'pass' : label === 'false_reject' ? it?.verdict !== 'pass' : true);

  const review = async (label: string, cls?: string) => {
    if (!it || !offered(label)) return;
    if (label === 'escape' && !cls) {
      setEscaping(true);
      return;
    }
    try {
      const r = await api<{ id: number }>('POST', `/api/inspections/${id}/review`, { label, class: cls, note: note.trim() || undefined });
      const again = it.reviews?.some((x) => x.id === r.id) ?? false;
      setMsg('');
      setNote('');
      setEscaping(false);
      p.onReviewed({ id, reviewId: r.id, label, created: !again, part: partName(it) });
      await reload();
    } catch (err) {
      setMsg((err as Error).message);
    }
  };
  /** Takes back this part's latest review (the list's undo button). */
  const undoLatest = async (reviewId: number) => {
    try {
      const r = await api<{ current: { label: string } | null }>('DELETE', `/api/inspections/${id}/reviews/${reviewId}`);
      setMsg(t('review:undone', { part: it ? partName(it) : `#${id}`, now: r.current ? labelText(r.current.label) : t('review:unreviewed') }));
      await reload();
    } catch (err) {
      setMsg((err as Error).message);
    }
  };
  // What was just added can be taken back (a label said again added nothing).
  const canUndo = !!(quality && p.last?.created && !p.last.undone && !p.last.error);
  // Keyboard review: c confirmed, f false reject, e escape, u undo; arrows step; Esc closes; o toggles overlay.
  useEffect(() => {
    const on = (e: KeyboardEvent) => {
      trapTab(e, dialog.current);
      if (e.key === 'Escape') {
        location.hash = href(null);
        return;
      }
      // Typing in the dialog's own fields is not a shortcut (a field outside it is inert while it is open).
      const target = e.target as HTMLElement;
      if (['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName) && dialog.current?.contains(target)) return;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === 'ArrowLeft' && prev) location.hash = href(prev);
      else if (e.key === 'ArrowRight' && next) location.hash = href(next);
      else if (quality && e.key === 'c') void review('confirmed');
      else if (quality && e.key === 'f') void review('false_reject');
      else if (quality && e.key === 'e') void review('escape');
      else if (e.key === 'u' && canUndo) p.onUndo();
    };
    addEventListener('keydown', on);
    return () => removeEventListener('keydown', on);
  });
  const status = msg || (p.last ? lastText(p.last) : '');
  // A part that does not exist (or a failed request) says so; it never stays "Loading…".
  if (!it)
    return (
      <div class="modal" role="dialog" aria-modal="true" aria-label={t('review:dialog', { part: `#${id}` })} ref={dialog} tabIndex={-1}>
        <div class="pad">
          {error ? <Problem error={error} what={t('review:dialog', { part: `#${id}` })} /> : <Loading />}
          <a href={href(null)}>{t('review:close')}</a>
        </div>
      </div>
    );
  const reviews = it.reviews ?? [];
  const current = reviews.length ? reviews[reviews.length - 1] : null;
  return (
    <div class="modal" role="dialog" aria-modal="true" aria-label={t('review:dialog', { part: partName(it) })} ref={dialog} tabIndex={-1}>
      <Viewer it={it} />
      <aside>
        <button
          type="button"
          class="close"
          onClick={() => {
            location.hash = href(null);
          }}
          aria-label={t('review:close')}
        >
          ×
        </button>
        <h2 class={it.verdict}>{t('review:heading', { part: partName(it), verdict: t(`verdict.${it.verdict}`) })}</h2>
        {current && (
          <p class="reviewed" data-testid="reviewed">
            {t('review:current')}: <b>{labelText(current.label)}</b>
            {current.class ? ` (${current.class})` : ''} {t('review:by', { by: current.by })}
          </p>
        )}
        {it.lot && (
          <p class="muted">
            {t('review:lot')}{' '}
            <a data-testid="lot-link" href={lotHref(it.lot)}>
              {it.lot}
            </a>
          </p>
        )}
        {it.code && (
          <p class="muted" data-testid="code">
            {t('review:code')} {it.code}
          </p>
        )}
        <p class="muted">
          {fmtDateTime(it.capturedAt)} · {t('review:recipe')} {it.recipe} v{it.recipeVersion?.version ?? '?'} · {it.model?.name ?? ''} ·{' '}
          {it.latencyMs.toFixed(0)} ms
        </p>
        {it.errorCode && <p class="error">{it.errorCode}</p>}
        <Findings it={it} />
        {quality && (
          <div class="review">
            <label class="review-note">
              {t('review:note')} <textarea rows={2} maxLength={2000} value={note} onInput={(e) => setNote((e.target as HTMLTextAreaElement).value)} />
            </label>
            <button type="button" onClick={() => void review('confirmed')} title="c">
              {t('review:confirm')} (c)
            </button>
            {offered('false_reject') && (
              <button type="button" onClick={() => void review('false_reject')} title="f">
                {t('review:falseReject')} (f)
              </button>
            )}
            {offered('escape') && (
              <button type="button" onClick={() => void review('escape')} title="e">
                {t('review:escape')} (e)
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
                  {t('review:escapeClass')}{' '}
                  <select required value={escapeClass} onChange={(e) => setEscapeClass((e.target as HTMLSelectElement).value)}>
                    <option value="">{t('review:choose')}</option>
                    {labels.map((l) => (
                      <option value={l}>{l}</option>
                    ))}
                  </select>
                </label>
                <button type="submit" disabled={!escapeClass}>
                  {t('review:markEscape')}
                </button>
                <button type="button" onClick={() => setEscaping(false)}>
                  {t('review:cancel')}
                </button>
                <Problem error={recipe.error} what={t('review:labels')} />
              </form>
            )}
          </div>
        )}
        <p class="note" role="status">
          {status}
          {canUndo && !msg && (
            <>
              {' '}
              <button type="button" data-testid="undo" onClick={p.onUndo} title="u">
                {t('review:undo')} (u)
              </button>
            </>
          )}
        </p>
        <h3>{t('review:history')}</h3>
        {reviews.length === 0 ? (
          <p class="muted">{t('review:none')}</p>
        ) : (
          <ul data-testid="history">
            {reviews.map((r) => (
              <li>
                {labelText(r.label)}
                {r.class ? ` (${r.class})` : ''} {t('review:by', { by: r.by })}, {fmtDateTime(r.at)}
                {r.note ? `: ${r.note}` : ''}
                {quality && r === current && (
                  <>
                    {' '}
                    <button type="button" class="link" data-testid="undo-latest" onClick={() => void undoLatest(r.id)}>
                      {t('review:undo')}
                    </button>
                  </>
                )}
              </li>
            ))}
          </ul>
        )}
        <p class="muted">{t('review:keys')}</p>
      </aside>
    </div>
  );
}
