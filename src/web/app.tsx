import { useEffect, useState } from 'preact/hooks';
import { Andon } from './andon.js';
import { ShiftPage } from './shift.js';
import { api, login, me as fetchMe, type Me } from './api.js';
import { Gallery } from './gallery.js';
import { LANGUAGES, setLanguage, setPlantZone, t, zone } from './i18n.js';
import { LotPage } from './lot.js';
import { Recipes } from './recipes.js';
import { Stats } from './stats.js';
import { WhatIf } from './whatif.js';

/** The route: the hash's path ("#/stats") and its query ("#/?verdict=fail": a page's filters, kept on reload). */
export interface Route {
  path: string;
  query: URLSearchParams;
}
export function routeOf(hash: string): Route {
  const h = hash.replace(/^#/, '') || '/';
  const q = h.indexOf('?');
  return { path: q < 0 ? h : h.slice(0, q), query: new URLSearchParams(q < 0 ? '' : h.slice(q + 1)) };
}

function useRoute(): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return routeOf(hash);
}

/** Applies a theme choice to the page: data-theme on <html> (none: follow the system's setting). */
export function applyTheme(theme: 'light' | 'dark' | null | undefined): void {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

/** A request that failed with nobody to show it: shown here instead of vanishing into the console. */
function useUnhandledProblems(): [string[], () => void] {
  const [problems, setProblems] = useState<string[]>([]);
  useEffect(() => {
    const on = (e: PromiseRejectionEvent) => {
      e.preventDefault();
      const m = e.reason instanceof Error ? e.reason.message : String(e.reason);
      setProblems((p) => [...p.slice(-2), m]);
    };
    addEventListener('unhandledrejection', on);
    return () => removeEventListener('unhandledrejection', on);
  }, []);
  return [problems, () => setProblems([])];
}

const PAGES: { path: string; key: string }[] = [
  { path: '/', key: 'gallery' },
  { path: '/stats', key: 'stats' },
  { path: '/recipes', key: 'recipes' },
  { path: '/whatif', key: 'whatif' },
  { path: '/shift', key: 'shift' },
  { path: '/andon', key: 'andon' },
];

export function App() {
  const [user, setUser] = useState<Me | null | undefined>(undefined);
  const [, setLang] = useState(() => setLanguage(null));
  const route = useRoute();
  const [problems, dismiss] = useUnhandledProblems();
  const adopt = async (m: Me | null) => {
    if (m) {
      setLang(setLanguage(m.locale ?? null));
      applyTheme(m.theme);
      // Every time shown is the plant's: its zone is known before the first page renders.
      await api<{ timeZone: string }>('GET', '/api/plant').then(
        (p) => setPlantZone(p.timeZone),
        () => undefined, // the browser's zone until the plant's is known
      );
    }
    setUser(m);
  };
  useEffect(() => void fetchMe().then(adopt), []);
  if (user === undefined) return <p class="muted pad">{t('loading')}</p>;
  if (user === null) return <Login onLogin={adopt} />;
  const { path, query } = route;
  const detail = /^\/inspection\/(\d+)$/.exec(path);
  const lot = /^\/lot\/(.+)$/.exec(path);
  const save = async (p: { locale?: string | null; theme?: 'light' | 'dark' | null }) => {
    const next = { ...user, ...p };
    if ('locale' in p) setLang(setLanguage(p.locale ?? null));
    if ('theme' in p) applyTheme(p.theme);
    setUser(next);
    await api('PUT', '/api/auth/me/preferences', p);
  };
  return (
    <>
      <header>
        <h1 class="brand">{t('title')}</h1>
        <nav aria-label={t('menu')}>
          {PAGES.map((p) => (
            <a href={`#${p.path}`} class={path === p.path || (p.path === '/' && detail) ? 'on' : ''} aria-current={path === p.path ? 'page' : undefined}>
              {t(`nav.${p.key}`)}
            </a>
          ))}
        </nav>
        <span class="user muted">
          {user.username} ({user.role})
        </span>
        <label class="pref">
          <span class="sr-only">{t('language')}</span>
          <select data-testid="language" value={user.locale ?? ''} onChange={(e) => void save({ locale: (e.target as HTMLSelectElement).value || null })}>
            <option value="">{`${t('language')}: ${t('theme.system')}`}</option>
            {Object.entries(LANGUAGES).map(([code, name]) => (
              <option value={code}>{name}</option>
            ))}
          </select>
        </label>
        <label class="pref">
          <span class="sr-only">{t('theme.label')}</span>
          <select
            data-testid="theme"
            value={user.theme ?? ''}
            onChange={(e) => void save({ theme: ((e.target as HTMLSelectElement).value || null) as 'light' | 'dark' | null })}
          >
            <option value="">{`${t('theme.label')}: ${t('theme.system')}`}</option>
            <option value="light">{t('theme.light')}</option>
            <option value="dark">{t('theme.dark')}</option>
          </select>
        </label>
        <button
          type="button"
          onClick={async () => {
            await api('POST', '/api/auth/logout', {});
            setUser(null);
          }}
        >
          {t('logout')}
        </button>
      </header>
      {problems.length > 0 && (
        <div class="problem banner" role="alert">
          {t('problem.unexpected')}: {problems.join(' · ')}{' '}
          <button type="button" onClick={dismiss}>
            {t('dismiss')}
          </button>
        </div>
      )}
      <main>
        <p class="zone muted">{t('zone', { zone: zone() })}</p>
        {path === '/stats' ? (
          <Stats />
        ) : path === '/recipes' ? (
          <Recipes me={user} />
        ) : path === '/whatif' ? (
          <WhatIf me={user} />
        ) : path === '/shift' ? (
          <ShiftPage />
        ) : path === '/andon' ? (
          <Andon />
        ) : lot ? (
          <LotPage lot={decodeURIComponent(lot[1])} />
        ) : (
          <Gallery me={user} openId={detail ? Number(detail[1]) : null} query={query} />
        )}
      </main>
    </>
  );
}

function Login({ onLogin }: { onLogin: (m: Me) => void }) {
  const [error, setError] = useState('');
  return (
    <main>
      <form
        class="login"
        onSubmit={async (e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget as HTMLFormElement);
          try {
            await login(String(f.get('username')), String(f.get('password')));
            onLogin((await fetchMe())!);
          } catch (err) {
            setError((err as Error).message);
          }
        }}
      >
        <h1>{t('title')}</h1>
        <label>
          {t('login.user')} <input name="username" autocomplete="username" required />
        </label>
        <label>
          {t('login.password')} <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit">{t('login.submit')}</button>
        {error && (
          <p class="problem" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
