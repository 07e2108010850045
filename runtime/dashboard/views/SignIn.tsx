/** The sign-in form of a runtime that has WARREN_ADMIN_TOKEN: the token becomes an HttpOnly cookie. */
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api';

export function SignIn({ onSignedIn }: { onSignedIn(): void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main class="signin">
      <form
        class="signin-card"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            await api('POST', '/session', { token });
            setToken('');
            onSignedIn();
          } catch (err) {
            setError(err instanceof ApiError ? err.message : String(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1>
          <span class="logo" aria-hidden="true" /> Warren
        </h1>
        <p class="muted">
          This runtime's admin API needs its token (the value of <code>WARREN_ADMIN_TOKEN</code>).
        </p>
        {/* For password managers: a token field with no user name beside it is one they cannot file. */}
        <input type="text" name="username" autocomplete="username" value="warren" readOnly hidden />
        <label class="field">
          <span>Admin token</span>
          <input
            name="token"
            type="password"
            autocomplete="current-password"
            required
            autofocus
            value={token}
            onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          />
        </label>
        {error ? (
          <p class="error-box" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy || token === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="muted small">The browser keeps a session cookie derived from the token (HttpOnly, SameSite=Strict); page scripts never see it.</p>
      </form>
    </main>
  );
}
