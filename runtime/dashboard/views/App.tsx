/** The page: header with the runtime's state, three views (functions, dead letters, topology), sign-in when needed. */
import { useEffect, useState } from 'preact/hooks';
import { api, onSignedOut } from '../api';
import { connectLive, disconnectLive, useLive } from '../live';
import { useToasts } from '../toast';
import { DeadLetters } from './DeadLetters';
import { Functions } from './Functions';
import { SignIn } from './SignIn';
import { Topology } from './Topology';

type Route = { view: 'functions' } | { view: 'dead-letters'; name: string | null } | { view: 'topology' };

function parseRoute(hash: string): Route {
  const [, view, name] = hash.replace(/^#/, '').split('/');
  if (view === 'dead-letters') return { view, name: name ? decodeURIComponent(name) : null };
  if (view === 'topology') return { view };
  return { view: 'functions' };
}

export function App() {
  const [route, setRoute] = useState<Route>(parseRoute(location.hash));
  const [signedOut, setSignedOut] = useState(false);
  const [tokenRequired, setTokenRequired] = useState(false);
  const live = useLive();
  const toasts = useToasts();

  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onHash);
    const off = onSignedOut(() => {
      disconnectLive();
      setSignedOut(true);
    });
    connectLive(() => setSignedOut(true));
    void fetch('/session', { credentials: 'same-origin' })
      .then((r) => r.json() as Promise<{ tokenRequired?: boolean }>)
      .then(
        (s) => setTokenRequired(Boolean(s.tokenRequired)),
        () => undefined,
      );
    return () => {
      removeEventListener('hashchange', onHash);
      off();
    };
  }, []);

  useEffect(() => {
    const titles = { functions: 'Functions', 'dead-letters': 'Dead letters', topology: 'Topology' };
    document.title = `${titles[route.view]} · Warren`;
  }, [route.view]);

  if (signedOut) {
    return (
      <SignIn
        onSignedIn={() => {
          setSignedOut(false);
          setTokenRequired(true);
          connectLive(() => setSignedOut(true));
        }}
      />
    );
  }

  const frame = live.frame;
  const state = frame ? (frame.ready ? 'ready' : frame.state) : live.connection;
  const deadTotal = (frame?.functions ?? []).reduce((a, f) => a + (f.deadLetterDepth ?? 0), 0);
  const tab = (view: Route['view'], href: string, label: string, badge?: number) => (
    <a href={href} class={route.view === view ? 'tab active' : 'tab'} aria-current={route.view === view ? 'page' : undefined}>
      {label}
      {badge ? <span class="tab-badge">{badge > 999 ? '999+' : badge}</span> : null}
    </a>
  );

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <div class="brand">
          <span class="logo" aria-hidden="true" />
          <span>Warren</span>
        </div>
        <nav class="tabs" aria-label="views">
          {tab('functions', '#/functions', 'Functions')}
          {tab('dead-letters', '#/dead-letters', 'Dead letters', deadTotal)}
          {tab('topology', '#/topology', 'Topology')}
        </nav>
        <div class="status">
          <span class={`pill ${live.connection === 'live' ? state : live.connection}`} role="status" data-testid="runtime-state">
            <span class="pulse" aria-hidden="true" />
            {live.connection === 'live' ? state : live.connection === 'lost' ? 'reconnecting…' : live.connection}
          </span>
          {tokenRequired ? (
            <button
              type="button"
              class="quiet"
              onClick={async () => {
                await api('DELETE', '/session').catch(() => undefined);
                disconnectLive();
                setSignedOut(true);
              }}
            >
              Sign out
            </button>
          ) : null}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {route.view === 'functions' ? <Functions live={live} /> : null}
        {route.view === 'dead-letters' ? <DeadLetters live={live} name={route.name} /> : null}
        {route.view === 'topology' ? <Topology /> : null}
      </main>
      <div class="toasts" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} class={`toast ${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
            {t.text}
          </div>
        ))}
      </div>
    </>
  );
}
