/** The gallery's client of the station API: cookie session, CSRF token on every write. */
let csrf = sessionStorage.getItem('csrf') ?? '';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(method: string, url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, data?.code ?? 'HTTP', data?.message ?? r.statusText);
  return data as T;
}

export async function login(username: string, password: string): Promise<Me> {
  const r = await api<{ csrfToken: string; username: string; role: string }>('POST', '/api/auth/login', { username, password });
  csrf = r.csrfToken;
  sessionStorage.setItem('csrf', csrf);
  return { username: r.username, role: r.role };
}

export async function me(): Promise<Me | null> {
  try {
    const r = await api<Me & { csrfToken?: string }>('GET', '/api/auth/me');
    if (r.csrfToken) {
      csrf = r.csrfToken;
      sessionStorage.setItem('csrf', csrf);
    }
    return r;
  } catch {
    return null;
  }
}

export interface Me {
  username: string;
  role: string;
  /** The user's chosen language and theme (null: the browser's language, the system's theme). */
  locale?: string | null;
  theme?: 'light' | 'dark' | null;
}

export interface Defect {
  class: string;
  score: number;
  rejecting: boolean;
  box: [number, number, number, number] | null;
}

export interface Inspection {
  id: number;
  station: string;
  partSeq: number;
  /** The serial and lot from the PLC (null when it sent none). */
  partId?: string | null;
  lot?: string | null;
  /** The code read from the part (null when none was read). */
  code?: string | null;
  capturedAt: string;
  verdict: 'pass' | 'fail' | 'uninspected';
  errorCode: string | null;
  recipe: string;
  maxScore: number;
  latencyMs: number;
  defects: Defect[];
  images: string[];
  imageInfo?: { variant: string; width: number; height: number }[];
  reviews?: { id: number; label: string; class: string | null; note: string; by: string; at: string }[];
  /** In the listing: the part's current label (null: not reviewed). */
  review?: { label: string; class: string | null } | null;
  timings?: Record<string, number>;
  model?: { name: string; family: string } | null;
  recipeVersion?: { version: number } | null;
}

export const ROLE_ORDER = ['viewer', 'quality', 'integrator', 'admin'];
export const can = (me: Me, role: string) => ROLE_ORDER.indexOf(me.role) >= ROLE_ORDER.indexOf(role);

/** A station of the plant (GET /api/stations). */
export interface StationInfo {
  id: string;
  name: string;
  site: string;
  area: string;
  line: string;
}
