import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { Defect, Inspection } from './api.js';
import { fmtNumber, fmtPercent, t } from './i18n.js';

/** Zoom 1 is the image fitted to its pane; 16 shows a source pixel as a block of several screen pixels. */
export const MAX_ZOOM = 16;
/** The label text's size on screen, whatever the zoom. */
const LABEL_PX = 12;
const LABEL_H = LABEL_PX + 4;

/** Zoom and pan, shared by both panes side by side: x, y move the image from its fitted, centred place (screen px). */
interface View {
  zoom: number;
  x: number;
  y: number;
}
const FIT: View = { zoom: 1, x: 0, y: 0 };

/*
 * The finding under the pointer or focus. Viewer and Findings are siblings in the detail view, so
 * the highlight lives here rather than in a state the detail view would have to pass down.
 */
let hotNow: number | null = null;
const hotListeners = new Set<(i: number | null) => void>();
function setHot(i: number | null): void {
  hotNow = i;
  for (const l of hotListeners) l(i);
}
function useHot(): number | null {
  const [hot, set] = useState(hotNow);
  useEffect(() => {
    hotListeners.add(set);
    return () => void hotListeners.delete(set);
  }, []);
  return hot;
}

interface Size {
  width: number;
  height: number;
}

/** How the image sits in a pane of `pane` size: its fitted size and top-left corner at zoom 1. */
function fitIn(pane: Size, image: Size) {
  const k = Math.min(pane.width / image.width, pane.height / image.height);
  const w = image.width * k;
  const h = image.height * k;
  return { k, w, h, left: (pane.width - w) / 2, top: (pane.height - h) / 2 };
}

/** A pan that keeps part of the image in the pane (never lost off screen); zoom 1 is always the fit. */
function clampView(v: View, pane: Size, image: Size): View {
  if (v.zoom <= 1) return FIT;
  const f = fitIn(pane, image);
  const axis = (off: number, start: number, size: number, paneSize: number) => {
    const keep = Math.min(48, size / 2, paneSize / 2);
    return Math.min(paneSize - keep - start, Math.max(keep - size - start, off));
  };
  return { zoom: v.zoom, x: axis(v.x, f.left, f.w * v.zoom, pane.width), y: axis(v.y, f.top, f.h * v.zoom, pane.height) };
}

/** The view zoomed to `zoom` about the pane point (px, py): the image point there stays there. */
function zoomAt(v: View, zoom: number, px: number, py: number, pane: Size, image: Size): View {
  const z = Math.min(MAX_ZOOM, Math.max(1, zoom));
  const f = fitIn(pane, image);
  const r = z / v.zoom;
  return clampView({ zoom: z, x: px - f.left - (px - f.left - v.x) * r, y: py - f.top - (py - f.top - v.y) * r }, pane, image);
}

let measureCtx: CanvasRenderingContext2D | null | undefined;
/** A label's width on screen (canvas text metrics in the page's font; an estimate without a canvas). */
function textWidth(s: string): number {
  if (measureCtx === undefined) {
    measureCtx = document.createElement('canvas').getContext('2d');
    if (measureCtx) measureCtx.font = `${LABEL_PX}px ${getComputedStyle(document.body).fontFamily}`;
  }
  return measureCtx ? measureCtx.measureText(s).width : s.length * LABEL_PX * 0.6;
}

interface Placed {
  i: number;
  d: Defect;
  x: number;
  y: number;
  w: number;
  h: number;
  label: { x: number; y: number; w: number; text: string };
}

/**
 * The boxes in screen space: stroke and text keep their size at any zoom. A label goes above its box
 * (inside it when there is no room above) and steps down past any label already placed that it would cover.
 */
function layout(defects: Defect[], toScreen: (sx: number, sy: number) => [number, number]): Placed[] {
  const out: Placed[] = [];
  const boxes = defects
    .map((d, i) => ({ d, i }))
    .filter((b) => b.d.box)
    // Largest first, so a small box drawn later stays on top and can be hovered.
    .sort((a, b) => area(b.d) - area(a.d));
  for (const { d, i } of boxes) {
    const [x1, y1] = toScreen(d.box![0], d.box![1]);
    const [x2, y2] = toScreen(d.box![2], d.box![3]);
    const text = `${d.class} ${fmtNumber(d.score, { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
    const w = textWidth(text) + 8;
    // Zoomed in, a box cut by the pane's top or left edge keeps its label in view, at the edge.
    const x = Math.max(x1, Math.min(0, x2 - w));
    let y = y1 >= LABEL_H ? y1 - LABEL_H : Math.max(y1, Math.min(0, y2 - LABEL_H));
    // Each label placed can cover at most two steps of the way down.
    for (let n = 0; n <= 2 * out.length && out.some((p) => overlaps(p.label, x, y, w)); n++) y += LABEL_H;
    out.push({ i, d, x: x1, y: y1, w: x2 - x1, h: y2 - y1, label: { x, y, w, text } });
  }
  return out;
}
const area = (d: Defect) => (d.box ? (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) : 0);
const overlaps = (l: { x: number; y: number; w: number }, x: number, y: number, w: number) =>
  x < l.x + l.w && l.x < x + w && y < l.y + LABEL_H && l.y < y + LABEL_H;

type Variant = 'overlay' | 'original';

/** One image in its pane, at the shared view; the boxes over it when `boxes` (else only the highlighted one). */
function Pane({
  it,
  variant,
  size,
  view,
  onView,
  onGeometry,
  boxes,
}: {
  it: Inspection;
  variant: Variant;
  size: Size | null;
  view: View;
  onView: (f: (v: View) => View) => void;
  onGeometry?: (pane: Size, image: Size) => void;
  boxes: boolean;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const [pane, setPane] = useState<Size | null>(null);
  const [loaded, setLoaded] = useState<Size | null>(null);
  // The pointers down on the pane (pane px): one drags, two pinch.
  const pointers = useRef(new Map<number, [number, number]>());
  const hot = useHot();
  useLayoutEffect(() => {
    const el = ref.current!;
    const measure = () => setPane({ width: el.clientWidth, height: el.clientHeight });
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const image = size ?? loaded;
  useEffect(() => {
    if (pane && image) onGeometry?.(pane, image);
  }, [pane?.width, pane?.height, image?.width, image?.height]);
  const f = pane && image ? fitIn(pane, image) : null;
  const change = (g: (v: View, pane: Size, image: Size) => View) => {
    if (pane && image) onView((v) => g(v, pane, image));
  };
  const local = (e: { clientX: number; clientY: number }): [number, number] => {
    const r = ref.current!.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  };
  const k = f ? f.k * view.zoom : 1;
  const toScreen = (sx: number, sy: number): [number, number] => (f ? [f.left + view.x + sx * k, f.top + view.y + sy * k] : [0, 0]);
  const placed = f ? layout(boxes ? it.defects : it.defects.map((d, i) => (i === hot ? d : { ...d, box: null })), toScreen) : [];
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: pan and zoom with the pointer; the keyboard has + − 0
    <div
      ref={ref}
      class="viewer"
      data-variant={variant}
      onWheel={(e) => {
        e.preventDefault();
        const [px, py] = local(e);
        // A mouse notch is about 100 (a 1.2× step); a touchpad's small deltas zoom smoothly.
        const dy = Math.max(-300, Math.min(300, e.deltaMode === 1 ? e.deltaY * 33 : e.deltaY));
        change((v, p, i) => zoomAt(v, v.zoom * Math.exp(-dy * 0.0018), px, py, p, i));
      }}
      onPointerDown={(e) => {
        if (e.pointerType === 'mouse' && e.button !== 0) return;
        pointers.current.set(e.pointerId, local(e));
        ref.current!.setPointerCapture?.(e.pointerId);
      }}
      onPointerMove={(e) => {
        const down = pointers.current;
        if (!down.has(e.pointerId) || down.size > 2) return;
        const before = [...down.values()];
        down.set(e.pointerId, local(e));
        const after = [...down.values()];
        if (down.size === 1) {
          const [dx, dy] = [after[0][0] - before[0][0], after[0][1] - before[0][1]];
          change((v, p, i) => clampView({ ...v, x: v.x + dx, y: v.y + dy }, p, i));
          return;
        }
        // A pinch: zoom by the fingers' spread about their midpoint, and pan as the midpoint moves.
        const mid = (q: [number, number][]) => [(q[0][0] + q[1][0]) / 2, (q[0][1] + q[1][1]) / 2];
        const spread = (q: [number, number][]) => Math.hypot(q[0][0] - q[1][0], q[0][1] - q[1][1]);
        if (spread(before) < 1) return;
        const [m0, m1] = [mid(before), mid(after)];
        const factor = spread(after) / spread(before);
        change((v, p, i) => {
          const z = zoomAt(v, v.zoom * factor, m0[0], m0[1], p, i);
          return clampView({ ...z, x: z.x + m1[0] - m0[0], y: z.y + m1[1] - m0[1] }, p, i);
        });
      }}
      onPointerUp={(e) => void pointers.current.delete(e.pointerId)}
      onPointerCancel={(e) => void pointers.current.delete(e.pointerId)}
      onDblClick={() => onView(() => FIT)}
    >
      {it.images.includes(variant) ? (
        <img
          draggable={false}
          class={k >= 4 ? 'pixels' : undefined}
          src={`/api/inspections/${it.id}/image?variant=${variant}`}
          alt={t(`viewer:alt.${variant}`, { part: it.partSeq })}
          onLoad={(e) => {
            const img = e.currentTarget as HTMLImageElement;
            if (!size) setLoaded({ width: img.naturalWidth, height: img.naturalHeight });
          }}
          style={
            f
              ? {
                  left: `${f.left}px`,
                  top: `${f.top}px`,
                  width: `${f.w}px`,
                  height: `${f.h}px`,
                  transform: `translate(${view.x}px, ${view.y}px) scale(${view.zoom})`,
                }
              : { visibility: 'hidden' }
          }
        />
      ) : (
        <p class="pad muted">{t(`viewer:missing.${variant}`)}</p>
      )}
      {placed.length > 0 && (
        <svg class="boxes" aria-label={t('viewer:boxes')} role="img">
          {placed.map((p) => (
            <g class={p.i === hot ? 'finding hot' : 'finding'} data-finding={p.i} key={p.i}>
              <rect
                x={p.x}
                y={p.y}
                width={Math.max(1, p.w)}
                height={Math.max(1, p.h)}
                class={p.d.rejecting ? 'box rejecting' : 'box'}
                onPointerEnter={() => setHot(p.i)}
                onPointerLeave={() => setHot(null)}
              >
                <title>{p.label.text}</title>
              </rect>
              <rect class={p.d.rejecting ? 'label-bg rejecting' : 'label-bg'} x={p.label.x} y={p.label.y} width={p.label.w} height={LABEL_H} />
              <text class={p.d.rejecting ? 'label rejecting' : 'label'} x={p.label.x + 4} y={p.label.y + LABEL_H - 4} font-size={LABEL_PX}>
                {p.label.text}
              </text>
            </g>
          ))}
        </svg>
      )}
    </div>
  );
}

/**
 * The part's images: the left pane of the detail view. Fitted to the pane; the wheel zooms at the
 * pointer (1–16×), as do two fingers; a drag pans, a double-click or 0 fits again, + and − zoom at the centre. Side by
 * side shows the original and the overlay at one shared zoom and pan. `o` toggles overlay and original.
 */
export function Viewer({ it }: { it: Inspection }) {
  const [variant, setVariant] = useState<Variant>('overlay');
  const [boxes, setBoxes] = useState(true);
  const [sideBySide, setSideBySide] = useState(false);
  const [view, setView] = useState<View>(FIT);
  // The first pane's size and the image's, so the keyboard zooms about that pane's centre.
  const geometry = useRef<{ pane: Size; image: Size } | null>(null);
  useEffect(() => {
    setView(FIT);
    setHot(null);
  }, [it.id]);
  useEffect(() => {
    const on = (e: KeyboardEvent) => {
      if (['INPUT', 'TEXTAREA', 'SELECT'].includes((e.target as HTMLElement).tagName) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === 'o') setVariant((v) => (v === 'overlay' ? 'original' : 'overlay'));
      else if (e.key === '0') setView(FIT);
      else if (e.key === '+' || e.key === '=' || e.key === '-') {
        const g = geometry.current;
        if (!g) return;
        const step = e.key === '-' ? 1 / 1.25 : 1.25;
        setView((v) => zoomAt(v, v.zoom * step, g.pane.width / 2, g.pane.height / 2, g.pane, g.image));
      }
    };
    addEventListener('keydown', on);
    return () => removeEventListener('keydown', on);
  });
  const info = (v: Variant) => it.imageInfo?.find((i) => i.variant === v) ?? it.imageInfo?.find((i) => i.variant === 'original') ?? null;
  const remember = (pane: Size, image: Size) => {
    geometry.current = { pane, image };
  };
  const pane = (v: Variant, withBoxes: boolean, first: boolean) => (
    <Pane it={it} variant={v} size={info(v)} view={view} onView={setView} onGeometry={first ? remember : undefined} boxes={withBoxes} />
  );
  return (
    <div class="viewer-pane">
      <div class={sideBySide ? 'panes two' : 'panes'}>
        {sideBySide ? (
          <>
            {pane('original', boxes, true)}
            {pane('overlay', false, false)}
          </>
        ) : (
          pane(variant, variant === 'original' && boxes, true)
        )}
      </div>
      <div class="toggles">
        <fieldset disabled={sideBySide}>
          <legend class="sr-only">{t('viewer:image')}</legend>
          <label>
            <input type="radio" name={`variant-${it.id}`} checked={variant === 'overlay'} onChange={() => setVariant('overlay')} /> {t('viewer:overlay')}
          </label>
          <label>
            <input type="radio" name={`variant-${it.id}`} checked={variant === 'original'} onChange={() => setVariant('original')} /> {t('viewer:original')}
          </label>
        </fieldset>
        <label>
          <input type="checkbox" checked={sideBySide} onChange={(e) => setSideBySide((e.target as HTMLInputElement).checked)} /> {t('viewer:sideBySide')}
        </label>
        <label>
          <input
            type="checkbox"
            checked={boxes}
            disabled={!sideBySide && variant !== 'original'}
            onChange={(e) => setBoxes((e.target as HTMLInputElement).checked)}
          />{' '}
          {t('viewer:boxesToggle')}
        </label>
        <button type="button" onClick={() => setView(FIT)} disabled={view.zoom === 1}>
          {t('viewer:reset')}
        </button>
        {/* Not an <output>: a live region would speak every wheel step, and the review's status is the dialog's one status. */}
        <span class="zoom">
          <span class="sr-only">{t('viewer:zoom')} </span>
          <span data-testid="zoom">{fmtPercent(view.zoom, 0)}</span>
        </span>
        <span class="muted hint">{t('viewer:hint')}</span>
      </div>
    </div>
  );
}

/** Every finding of the part: its score, whether it counted, and its box's size in source pixels. */
export function Findings({ it }: { it: Inspection }) {
  const hot = useHot();
  if (it.defects.length === 0) return <p class="muted">{t('viewer:findings.none')}</p>;
  return (
    <table class="findings">
      <thead>
        <tr>
          <th scope="col">{t('viewer:findings.class')}</th>
          <th scope="col">{t('viewer:findings.score')}</th>
          <th scope="col">{t('viewer:findings.counts')}</th>
          <th scope="col">{t('viewer:findings.size')}</th>
        </tr>
      </thead>
      <tbody>
        {it.defects.map((d, i) => (
          <tr
            key={i}
            data-finding={i}
            class={i === hot ? 'hot' : undefined}
            tabIndex={d.box ? 0 : undefined}
            onMouseEnter={() => setHot(i)}
            onMouseLeave={() => setHot(null)}
            onFocus={() => setHot(i)}
            onBlur={() => setHot(null)}
          >
            <td>{d.class}</td>
            <td>{fmtNumber(d.score, { minimumFractionDigits: 3, maximumFractionDigits: 3 })}</td>
            <td>{d.rejecting ? t('viewer:findings.rejects') : '—'}</td>
            <td>{d.box ? t('viewer:findings.px', { w: fmtNumber(Math.round(d.box[2] - d.box[0])), h: fmtNumber(Math.round(d.box[3] - d.box[1])) }) : '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
