/**
 * The certificate module on demand. Steps call `await loadPki()` where they issue, parse or check a
 * certificate instead of importing ./index.js statically: node-forge (≈ 290 KiB) then lives in a
 * chunk of its own (esbuild code splitting, `Splitting: true` in template.yaml) that a cold start
 * does not load, and paths that never touch a certificate (a duplicate trigger, a rollback with
 * nothing to restore) never load it at all.
 */
export const loadPki = () => import('./index.js');
export type Pki = Awaited<ReturnType<typeof loadPki>>;
