// The studio is served by `facefuse serve` from assets embedded in the binary: relative to `/`,
// no inline script (the page's CSP forbids it), no module-preload polyfill (it would be inline).
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  build: {
    target: 'es2022',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
});
