// Entry point: styles, preferences, the router, the session (or the one-time login code of a
// `#login=` link), then the app.
import { render } from 'preact';
import './styles.css';
import './lib/prefs';
import { startRouter } from './lib/router';
import { App } from './App';

startRouter();
render(<App />, document.getElementById('app')!);
