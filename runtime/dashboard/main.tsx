/** The dashboard's entry: styles, then the App into <body>. Built by runtime/build.mjs into dist/dashboard/. */
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { render } from 'preact';
import { App } from './views/App';

render(<App />, document.getElementById('app')!);
