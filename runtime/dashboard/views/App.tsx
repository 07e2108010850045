/** The page: header with the runtime's state, three views (functions, dead letters, topology), sign-in when needed. */
import { useEffect, useState } from 'preact/hooks';
import { api, onSignedOut } from '../api';
import { connectLive, disconnectLive, fetchSession, useLive, type LiveState } from '../live';
import { clock } from '../format';
import { useToasts } from '../toast';
import { DeadLetters } from './DeadLetters';
import { Functions } from './Functions';
import { SignIn } from './SignIn';
import { Topology } from './Topology';

type Route = { view: 'functions'; name: string | null } | { view: 'dead-letters'; name: string | null } | { view: 'topology' };

/** #/functions[/NAME], #/dead-letters[/NAME], #/topology; anything else is the functions view. */
export function parseRoute(hash: string): Route {
  const [, view, raw] = hash.replace(/^#/, '').split('/');
  let name: string | null = null;
  try {
    name = raw ? decodeURIComponent(raw) : null;
  } catch {
    // a hand-typed %zz: the view without a name
  }
  if (view === 'dead-letters') return { view, name };
  if (view === 'topology') return { view };
  return { view: 'functions', name };
}

/** Before the first request: is this browser in, must it sign in, or may it not use the API at all? */
type Gate = { state: 'checking' } | { state: 'in' } | { state: 'sign-in' } | { state: 'refused'; why: string; hint: string };

export function App() {
  const [route, setRoute] = useState<Route>(parseRoute(location.hash));
  const [gate, setGate] = useState<Gate>({ state: 'checking' });
  const [tokenRequired, setTokenRequired] = useState(false);
  const live = useLive();
  const toasts = useToasts();

  const enter = () => {
    setGate({ state: 'in' });
    connectLive(() => setGate({ state: 'sign-in' }));
  };

  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onHash);
    const off = onSignedOut(() => {
      disconnectLive();
      setGate({ state: 'sign-in' });
    });
    // Ask first, then open the stream: a browser that must sign in sends no request that would be refused.
    fetchSession().then(
      (s) => {
        setTokenRequired(s.tokenRequired);
        if (s.signedIn) enter();
        else if (s.tokenRequired) setGate({ state: 'sign-in' });
        else setGate({ state: 'refused', why: s.why ?? 'this browser may not use the admin API', hint: s.hint ?? '' });
      },
      // The runtime does not answer: the stream retries by itself and the page says so meanwhile.
      () => enter(),
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

  if (gate.state === 'checking') return <p class="empty">Connecting to the runtime…</p>;
  if (gate.state === 'refused') {
    return (
      <main class="signin">
        <div class="signin-card">
          <h1>
            <span class="logo" aria-hidden="true" /> Warren
          </h1>
          <p class="error-box" role="alert">
            Refused: {gate.why}.
          </p>
          {gate.hint ? <p class="muted">{gate.hint}</p> : null}
        </div>
      </main>
    );
  }
  if (gate.state === 'sign-in') {
    return (
      <SignIn
        onSignedIn={() => {
          setTokenRequired(true);
          enter();
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
      {/* The hash is the router's: following #main would leave the view, so the link moves the focus itself. */}
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
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
                setGate({ state: 'sign-in' });
              }}
            >
              Sign out
            </button>
          ) : null}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <StatusBanner live={live} />
        <ConfigWarnings warnings={live.frame?.warnings ?? []} />
        {route.view === 'functions' ? <Functions live={live} focus={route.name} /> : null}
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

/** Why the figures cannot be trusted right now: the runtime is not ready (and why), or it does not answer. */
function StatusBanner({ live }: { live: LiveState }) {
  if (live.lostSince !== null) {
    return (
      <p class="banner bad" role="status">
        <strong>The runtime does not answer</strong> since {clock(live.lostSince)}; retrying.
        {live.frame ? ' The figures below are from then.' : ''}
      </p>
    );
  }
  const frame = live.frame;
  if (!frame || frame.ready || !frame.why) return null;
  return (
    <p class="banner warn" role="status">
      <strong>Not ready:</strong> {frame.why}
    </p>
  );
}

/**
 * What `warren check` warns about the project (an output that comes back to its own function, a file
 * in functions/ that is not read), as the runtime read it last: nothing stops, so a log line is easy to miss.
 */
function ConfigWarnings({ warnings }: { warnings: readonly string[] }) {
  if (warnings.length === 0) return null;
  return (
    <section class="banner warn config-warnings" data-testid="config-warnings" aria-label="warnings about the project's files">
      <strong>{warnings.length === 1 ? 'A warning' : `${warnings.length} warnings`} about the project's files</strong>
      <ul>
        {warnings.map((w) => {
          const [what, hint] = w.split('\n  hint: ');
          return (
            <li key={w}>
              {what}
              {hint ? <span class="hint">Hint: {hint}</span> : null}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
