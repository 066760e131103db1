/** What every page shares: loading a resource with its error shown, and the way a problem is shown. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from './api.js';
import { t } from './i18n.js';

export interface Loaded<T> {
  data?: T;
  error?: Error;
  loading: boolean;
  reload: () => Promise<void>;
}

/**
 * GET `url` (null: nothing yet) and keep the answer; a failure is kept as `error`, never thrown, so
 * a page shows what went wrong instead of "Loading…" forever or a zero. A response to an older url
 * is dropped.
 */
export function useApi<T>(url: string | null): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: url !== null });
  const generation = useRef(0);
  const load = async () => {
    if (url === null) return;
    const gen = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await api<T>('GET', url);
      if (gen === generation.current) setState({ data, loading: false });
    } catch (err) {
      if (gen === generation.current) setState({ error: err as Error, loading: false });
    }
  };
  useEffect(() => void load(), [url]);
  return { ...state, reload: load };
}

/** A failed request or action, as the person should read it: what failed, the stable code, the server's words. */
export function Problem({ error, what }: { error: Error | undefined | null; what?: string }) {
  if (!error) return null;
  const code = error instanceof ApiError ? error.code : '';
  const message =
    error instanceof ApiError && error.status === 404
      ? t('common:problem.notFound')
      : error instanceof ApiError && error.status === 403
        ? t('common:problem.forbidden')
        : error instanceof TypeError
          ? t('common:problem.offline')
          : error.message;
  return (
    <p class="problem" role="alert">
      {what ? `${what}: ` : ''}
      {message}
      {code && code !== 'HTTP' && <small class="code"> ({code})</small>}
    </p>
  );
}

/** Shown while a first answer is on its way. */
export function Loading() {
  return (
    <p class="muted pad" aria-busy="true">
      {t('common:loading')}
    </p>
  );
}

/** A message that a write went through (role status), or why it did not (role alert). */
export function Outcome({ ok, error }: { ok?: string; error?: Error | null }) {
  if (error) return <Problem error={error} />;
  if (!ok) return null;
  return (
    <p class="note" role="status">
      {ok}
    </p>
  );
}

/** What a request answered for the previous choice, greyed and aria-busy while the new answer loads. */
export function Busy({ loading, children }: { loading: boolean; children: ComponentChildren }) {
  return (
    <div class={loading ? 'stale' : undefined} aria-busy={loading}>
      {children}
    </div>
  );
}
