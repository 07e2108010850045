// Handler files: find them, build them with esbuild, load their default export.
// A replica's worker thread should import './load.js' directly: this index also pulls in esbuild.
export { buildHandler, type BuildHandlerOptions, type BuiltHandler } from './build.js';
export { loadHandler } from './load.js';
export { findPackageRoot, runtimeEntry } from './package-root.js';
export * from './discover.js';
