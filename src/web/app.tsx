import { useEffect, useState } from 'preact/hooks';
import { api, login, me as fetchMe, type Me } from './api.js';
import { Gallery } from './gallery.js';
import { LotPage } from './lot.js';
import { Recipes } from './recipes.js';
import { Stats } from './stats.js';
import { WhatIf } from './whatif.js';

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

export function App() {
  const [user, setUser] = useState<Me | null | undefined>(undefined);
  const hash = useHash();
  useEffect(() => void fetchMe().then(setUser), []);
  if (user === undefined) return <p class="muted pad">Loading…</p>;
  if (user === null) return <Login onLogin={setUser} />;
  const detail = /^#\/inspection\/(\d+)/.exec(hash);
  const lot = /^#\/lot\/(.+)$/.exec(hash);
  return (
    <>
      <header>
        <strong>Inspection station</strong>
        <nav>
          <a href="#/" class={hash === '#/' || detail ? 'on' : ''}>
            Gallery
          </a>
          <a href="#/stats" class={hash === '#/stats' ? 'on' : ''}>
            Statistics
          </a>
          <a href="#/recipes" class={hash === '#/recipes' ? 'on' : ''}>
            Recipes
          </a>
          <a href="#/whatif" class={hash === '#/whatif' ? 'on' : ''}>
            What-if
          </a>
        </nav>
        <span class="muted">
          {user.username} ({user.role})
        </span>
        <button
          type="button"
          onClick={async () => {
            await api('POST', '/api/auth/logout', {});
            setUser(null);
          }}
        >
          Log out
        </button>
      </header>
      <main>
        {hash === '#/stats' ? (
          <Stats />
        ) : hash === '#/recipes' ? (
          <Recipes me={user} />
        ) : hash === '#/whatif' ? (
          <WhatIf me={user} />
        ) : lot ? (
          <LotPage lot={decodeURIComponent(lot[1])} />
        ) : (
          <Gallery me={user} openId={detail ? Number(detail[1]) : null} />
        )}
      </main>
    </>
  );
}

function Login({ onLogin }: { onLogin: (m: Me) => void }) {
  const [error, setError] = useState('');
  return (
    <form
      class="login"
      onSubmit={async (e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget as HTMLFormElement);
        try {
          onLogin(await login(String(f.get('username')), String(f.get('password'))));
        } catch (err) {
          setError((err as Error).message);
        }
      }}
    >
      <h1>Inspection station</h1>
      <label>
        User <input name="username" autocomplete="username" required />
      </label>
      <label>
        Password <input name="password" type="password" autocomplete="current-password" required />
      </label>
      <button type="submit">Log in</button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
