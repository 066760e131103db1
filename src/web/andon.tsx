/**
 * The line screen (andon): a TV beside the line, read from three metres. The run's counters and
 * the newest rejects come live (GET /api/live), the station's health every few seconds, today's
 * yield from the statistics. Nothing on it may look live when it is not: numbers whose stream
 * stopped are greyed and struck through, and a station that stops answering is itself an alarm.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, type Inspection } from './api.js';
import { fmtDateTime, fmtNumber, fmtPercent, fmtTime, isoOfPlantLocal, plantLocalOf, t } from './i18n.js';
import { Problem, useApi } from './ui.js';

interface Counters {
  parts: number;
  pass: number;
  fail: number;
  uninspected: number;
}

/** The parts of GET /api/health (logged in) the screen reads. */
interface Health {
  status: string;
  problems: string[];
  station?: string;
  lineState?: string;
  plc?: { state: string; lastError: string | null; lastErrorCode: string | null } | null;
}

/** One alarm row: what a person across the room reads, the stable code to call out, the station's own words. */
export interface Alarm {
  kind: string;
  title: string;
  code: string;
  detail: string;
}

/** The stream sends counters every second: five seconds without any is a stream that stopped. */
const STALE_MS = 5_000;
const HEALTH_EVERY_MS = 5_000;
/** A health request neither answered nor failed for this long (a hung station) counts as no answer. */
const HEALTH_SILENT_MS = 3 * HEALTH_EVERY_MS;
const TODAY_EVERY_MS = 10_000;
const REJECTS = 6;

const codeIn = (s: string) => /STN_ERR_[A-Z0-9_]+/.exec(s)?.[0] ?? null;

/**
 * The station's health problems as alarm rows. The sentences come from src/ops/health.ts, one per
 * problem; each is sorted by its opening words into a kind, and gets the station's code where the
 * station has one (the PLC's last error code, the code inside a failed source's sentence), else
 * the screen's own ALARM_* code (docs/gallery.md lists them).
 */
export function healthAlarms(h: Health): Alarm[] {
  return h.problems.map((p): Alarm => {
    let m: RegExpExecArray | null;
    const row = (kind: string, code: string, vars: Record<string, string> = {}): Alarm => ({ kind, code, title: t(`andon:alarm.${kind}`, vars), detail: p });
    if ((m = /^line (\w+)/.exec(p)))
      return row('line', codeIn(p) ?? (m[1] === 'failed' ? 'STN_ERR_LINE_WORKER' : 'STN_ERR_LINE_STOPPED'), { state: h.lineState ?? m[1] });
    if ((m = /^PLC link (\w+)/.exec(p))) return row('plc', h.plc?.lastErrorCode ?? codeIn(p) ?? 'STN_ERR_PLC_CONNECT', { state: h.plc?.state ?? m[1] });
    if (/^PLC: /.test(p)) return row('ack', 'ALARM_PLC_ACK');
    if ((m = /^frame source (\S+) failed/.exec(p))) return row('source', codeIn(p) ?? 'STN_ERR_SOURCE_FAILED', { name: m[1] });
    if ((m = /^camera (\S+) reconnecting/.exec(p))) return row('camera', codeIn(p) ?? 'ALARM_CAMERA', { name: m[1] });
    if (/^database writes failing/.test(p)) return row('database', 'STN_ERR_STORE_WRITE');
    if (/^image disk/.test(p)) return row('disk', 'ALARM_DISK');
    if (/^recorder: /.test(p)) return row('recorder', codeIn(p) ?? 'STN_ERR_STORE_WRITE');
    if (/^MQTT /.test(p)) return row('mqtt', 'ALARM_MQTT');
    return row('other', codeIn(p) ?? 'ALARM_STATION');
  });
}

/** The newest rejected parts first (failed or uninspected), each once. */
function newest(parts: Inspection[]): Inspection[] {
  const byId = new Map<number, Inspection>();
  for (const p of parts) if (p.verdict !== 'pass') byId.set(p.id, p);
  return [...byId.values()].sort((a, b) => b.capturedAt.localeCompare(a.capturedAt) || b.id - a.id).slice(0, REJECTS);
}

/** Ticks every second: the clock, the update age and the staleness are read from it. */
function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

/**
 * The live stream: the counters with the time they came, and each rejected part as it is recorded.
 * EventSource retries a dropped connection by itself, but gives up on an error status (a 429 of
 * the per-user stream limit, a 401 after the session ended): then it is opened again after a while.
 */
function useLive(onReject: (p: Inspection) => void): { counters: Counters | null; at: number | null } {
  const [state, setState] = useState<{ counters: Counters | null; at: number | null }>({ counters: null, at: null });
  const reject = useRef(onReject);
  reject.current = onReject;
  useEffect(() => {
    let es: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const open = () => {
      es = new EventSource('/api/live');
      es.addEventListener('counters', (e) => setState({ counters: JSON.parse((e as MessageEvent).data), at: Date.now() }));
      es.addEventListener('inspection', (e) => {
        const it = JSON.parse((e as MessageEvent).data) as Inspection;
        if (it.verdict !== 'pass') reject.current(it);
      });
      es.onerror = () => {
        if (es?.readyState === EventSource.CLOSED) retry = setTimeout(open, STALE_MS);
      };
    };
    open();
    return () => {
      clearTimeout(retry);
      es?.close();
    };
  }, []);
  return state;
}

/** GET /api/health every few seconds: the last answer, when it came, and the last failure (cleared by an answer). */
function useHealth(): { health: Health | null; at: number | null; error: Error | null } {
  const [state, setState] = useState<{ health: Health | null; at: number | null; error: Error | null }>({ health: null, at: null, error: null });
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const health = await api<Health>('GET', '/api/health');
        if (!stopped) setState({ health, at: Date.now(), error: null });
      } catch (err) {
        if (!stopped) setState((s) => ({ ...s, error: err as Error }));
      }
      if (!stopped) timer = setTimeout(poll, HEALTH_EVERY_MS);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);
  return state;
}

/** The words for a failed request, as Problem would say them. */
function failure(err: Error): { code: string; detail: string } {
  if (err instanceof ApiError) return { code: err.code === 'HTTP' ? 'ALARM_SILENT' : err.code, detail: `HTTP ${err.status}: ${err.message}` };
  return { code: 'ALARM_SILENT', detail: err instanceof TypeError ? t('common:problem.offline') : err.message };
}

const clock = (v: string) => fmtDateTime(v, { year: undefined, month: undefined, day: undefined, second: '2-digit', timeZoneName: undefined });

export function Andon() {
  const now = useNow();
  const opened = useRef(Date.now());
  const screen = useRef<HTMLElement>(null);
  const [rejects, setRejects] = useState<Inspection[]>([]);
  const live = useLive((p) => setRejects((prev) => newest([p, ...prev])));
  const { health, at: healthAt, error: healthError } = useHealth();

  // The newest rejects before the screen opened: the failed and the uninspected listed apart, merged.
  const [seedError, setSeedError] = useState<Error | null>(null);
  useEffect(() => {
    Promise.all((['fail', 'uninspected'] as const).map((v) => api<{ items: Inspection[] }>('GET', `/api/inspections?verdict=${v}&limit=${REJECTS}`))).then(
      ([fail, uninspected]) => setRejects((prev) => newest([...prev, ...fail.items, ...uninspected.items])),
      (err: Error) => setSeedError(err),
    );
  }, []);

  // Today in the plant's zone, for this station once health has named it.
  const dayStart = isoOfPlantLocal(`${plantLocalOf(now).slice(0, 10)}T00:00`) ?? new Date(now).toISOString();
  const station = health?.station;
  const today = useApi<{ stations: Counters[] }>(
    `/api/stats/stations?from=${encodeURIComponent(dayStart)}${station ? `&station=${encodeURIComponent(station)}` : ''}`,
  );
  const reloadToday = useRef(today.reload);
  reloadToday.current = today.reload;
  useEffect(() => {
    const timer = setInterval(() => void reloadToday.current(), TODAY_EVERY_MS);
    return () => clearInterval(timer);
  }, []);
  const day = (today.data?.stations ?? []).reduce((a, s) => ({ parts: a.parts + s.parts, pass: a.pass + s.pass }), { parts: 0, pass: 0 });

  const age = live.at === null ? null : Math.max(0, Math.floor((now - live.at) / 1000));
  const stale = live.at === null ? now - opened.current > STALE_MS : now - live.at > STALE_MS;

  const alarms: Alarm[] = [];
  const silent = healthError ?? (healthAt !== null && now - healthAt > HEALTH_SILENT_MS ? new Error(t('common:problem.offline')) : null);
  if (silent) alarms.push({ kind: 'silent', title: t('andon:alarm.silent'), ...failure(silent) });
  else if (health) alarms.push(...healthAlarms(health));
  if (stale)
    alarms.push({
      kind: 'stale',
      code: 'ALARM_STALE',
      title: age === null ? t('andon:alarm.streamWaiting') : t('andon:alarm.stale', { age: fmtNumber(age) }),
      detail: 'GET /api/live',
    });

  const c = live.counters;
  const staleTag = stale && <span class="andon-tag">{t('andon:stale')}</span>;
  const figure = (key: 'parts' | 'pass' | 'fail' | 'uninspected') => (
    <div class={stale ? `${key} andon-stale` : key} data-testid={`andon-${key}`}>
      <dt>
        {t(`andon:${key}`)}
        {staleTag}
      </dt>
      <dd>{c ? fmtNumber(c[key]) : '–'}</dd>
    </div>
  );

  return (
    <section class="andon" ref={screen} aria-labelledby="andon-title">
      <div class="andon-head">
        <h2 id="andon-title">{t('andon:title')}</h2>
        {station && <span class="andon-station">{t('andon:station', { station })}</span>}
        <span class="muted" data-testid="andon-age">
          {age === null ? t('andon:waiting') : t('andon:updated', { age: fmtNumber(age) })}
        </span>
        <time class="andon-clock" data-testid="andon-clock" dateTime={new Date(now).toISOString()}>
          {fmtTime(now)}
        </time>
        {document.fullscreenEnabled && (
          <button type="button" onClick={() => void screen.current?.requestFullscreen()}>
            {t('andon:fullscreen')}
          </button>
        )}
      </div>

      {alarms.length > 0 ? (
        <div class="andon-alarms" role="alert" data-testid="andon-alarms">
          <h3>{t('andon:alarms', { count: alarms.length })}</h3>
          <ul>
            {alarms.map((a) => (
              <li data-kind={a.kind} data-code={a.code}>
                <strong>{a.title}</strong> <code>{a.code}</code>
                <span class="detail">{a.detail}</span>
              </li>
            ))}
          </ul>
        </div>
      ) : (
        <p class="andon-calm" role="status" data-testid="andon-no-alarms">
          {t('andon:noAlarms')}
        </p>
      )}

      <div class="andon-body">
        <div>
          <dl class="andon-figures yields">
            <div class="yield" data-testid="andon-yield-today">
              <dt>{t('andon:yieldToday')}</dt>
              <dd>{day.parts ? fmtPercent(day.pass / day.parts) : '–'}</dd>
              <dd class="note">{t('andon:yieldTodayNote', { count: day.parts })}</dd>
            </div>
            <div class={stale ? 'yield andon-stale' : 'yield'} data-testid="andon-yield-run">
              <dt>
                {t('andon:yieldRun')}
                {staleTag}
              </dt>
              <dd>{c?.parts ? fmtPercent(c.pass / c.parts) : '–'}</dd>
              <dd class="note">{t('andon:yieldRunNote')}</dd>
            </div>
          </dl>
          <Problem error={today.error} what={t('andon:yieldToday')} />
          <dl class="andon-figures counters" data-testid="andon-counters">
            {figure('parts')}
            {figure('pass')}
            {figure('fail')}
            {figure('uninspected')}
          </dl>
        </div>
        <div class="andon-rejects">
          <h3>{t('andon:rejects')}</h3>
          <Problem error={seedError} what={t('andon:rejects')} />
          {rejects.length === 0 && !seedError ? (
            <p class="muted">{t('andon:noRejects')}</p>
          ) : (
            <ol>
              {rejects.map((it) => {
                const worst = it.defects.filter((d) => d.rejecting).sort((a, b) => b.score - a.score)[0];
                const why =
                  it.verdict === 'fail' && worst
                    ? t('andon:score', { class: worst.class, score: fmtNumber(worst.score, { minimumFractionDigits: 2, maximumFractionDigits: 2 }) })
                    : it.errorCode;
                return (
                  <li class={it.verdict} data-testid="andon-reject" data-id={it.id}>
                    <a href={`#/inspection/${it.id}`}>
                      {it.images.includes('thumb') ? (
                        <img src={`/api/inspections/${it.id}/image?variant=thumb`} alt={t('andon:partAlt', { seq: it.partSeq })} />
                      ) : (
                        <span class="noimg">{t('andon:noImage')}</span>
                      )}
                      <span class="why">
                        <b>{t(`common:verdict.${it.verdict}`)}</b> {why}
                      </span>
                      <span class="when">{clock(it.capturedAt)}</span>
                    </a>
                  </li>
                );
              })}
            </ol>
          )}
        </div>
      </div>
    </section>
  );
}
