/**
 * The gallery's language and the plant's clock. Every text a person reads goes through `t` (i18next,
 * resources bundled: the plant is offline); every time and number through the formatters here, in
 * the user's language and the plant's time zone, so a browser set to another zone shows the plant's
 * hours and says which zone they are in.
 */
import i18next from 'i18next';
import { instantOfWall, offsetMinutes } from '../config/plant.js';
import andon from './locales/andon.js';
import common from './locales/common.js';
import gallery from './locales/gallery.js';
import lot from './locales/lot.js';
import recipes from './locales/recipes.js';
import review from './locales/review.js';
import shift from './locales/shift.js';
import stats from './locales/stats.js';
import viewer from './locales/viewer.js';
import whatif from './locales/whatif.js';

/** The languages offered, by their own names. The server accepts the same (GALLERY_LOCALES). */
export const LANGUAGES = { en: 'English', de: 'Deutsch' } as const;
export type Language = keyof typeof LANGUAGES;

const NAMESPACES = { common, gallery, review, viewer, stats, recipes, whatif, lot, andon, shift };
const resources: Record<string, Record<string, object>> = {};
for (const [ns, texts] of Object.entries(NAMESPACES)) {
  for (const [lng, strings] of Object.entries(texts)) (resources[lng] ??= {})[ns] = strings;
}

/** The browser's first language the gallery offers, else English. */
export function browserLanguage(): Language {
  for (const l of navigator.languages ?? [navigator.language]) {
    const base = l.toLowerCase().split('-')[0];
    if (base in LANGUAGES) return base as Language;
  }
  return 'en';
}

void i18next.init({
  lng: browserLanguage(),
  fallbackLng: 'en',
  supportedLngs: Object.keys(LANGUAGES),
  ns: Object.keys(NAMESPACES),
  defaultNS: 'common',
  resources,
  initAsync: false,
  interpolation: { escapeValue: false }, // Preact escapes what it renders
  returnNull: false,
});

/** A text by key, `ns:key` (common when no namespace), with i18next's interpolation and plurals. */
export const t: typeof i18next.t = i18next.t.bind(i18next);

export function language(): Language {
  return (i18next.resolvedLanguage ?? 'en') as Language;
}

/** Switches the language (the caller re-renders); null: the browser's. */
export function setLanguage(l: string | null): Language {
  const next = l && l in LANGUAGES ? (l as Language) : browserLanguage();
  void i18next.changeLanguage(next);
  document.documentElement.lang = next;
  return next;
}

let plantZone: string = Intl.DateTimeFormat().resolvedOptions().timeZone;
/** The plant's IANA time zone (GET /api/plant); until it is known, the browser's. */
export function setPlantZone(tz: string): void {
  plantZone = tz;
}
export function zone(): string {
  return plantZone;
}

const toDate = (v: string | number | Date) => (v instanceof Date ? v : new Date(v));

/** Date and time in the plant's zone, with the zone's short name (e.g. "02.12.2026, 09:15 MEZ"). */
export function fmtDateTime(v: string | number | Date, opts: Intl.DateTimeFormatOptions = {}): string {
  // (dateStyle and timeStyle cannot be combined with timeZoneName: the fields are spelt out.)
  return new Intl.DateTimeFormat(language(), {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    timeZone: plantZone,
    timeZoneName: 'short',
    ...opts,
  }).format(toDate(v));
}
/** Date and time to the second (for records). */
export function fmtDateTimeSeconds(v: string | number | Date): string {
  return new Intl.DateTimeFormat(language(), {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    timeZone: plantZone,
    timeZoneName: 'short',
  }).format(toDate(v));
}
export function fmtDate(v: string | number | Date): string {
  return new Intl.DateTimeFormat(language(), { dateStyle: 'medium', timeZone: plantZone }).format(toDate(v));
}
export function fmtTime(v: string | number | Date): string {
  return new Intl.DateTimeFormat(language(), { timeStyle: 'short', timeZone: plantZone }).format(toDate(v));
}
export function fmtNumber(n: number, opts: Intl.NumberFormatOptions = {}): string {
  return new Intl.NumberFormat(language(), opts).format(n);
}
/** A share in [0, 1] as a percentage ("12.3 %" / "12,3 %"); '–' when unknown. */
export function fmtPercent(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return new Intl.NumberFormat(language(), { style: 'percent', minimumFractionDigits: digits, maximumFractionDigits: digits }).format(x);
}

/**
 * A datetime-local input's value read as the plant's wall time, as an ISO instant; null when empty
 * or invalid. A wall time a clock change skips is taken with the offset before the change.
 */
export function isoOfPlantLocal(v: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(v);
  if (!m) return null;
  const at = instantOfWall(plantZone, +m[1], +m[2], +m[3], +m[4], +m[5], +(m[6] ?? 0));
  return Number.isNaN(at) ? null : new Date(at).toISOString();
}

/** An instant as a datetime-local value in the plant's wall time (to the minute). */
export function plantLocalOf(v: string | number | Date): string {
  const at = toDate(v).getTime();
  const d = new Date(at + offsetMinutes(plantZone, at) * 60_000);
  return d.toISOString().slice(0, 16);
}
