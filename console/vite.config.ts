// Vite build of the console: served by tern under /console/, hashed assets in assets/, no
// inline scripts (the CSP forbids them), no source maps in the embedded build.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/console/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    cssCodeSplit: false,
  },
  server: {
    // `npm run dev`: the API of a local `tern serve` (make run) behind Vite's dev server.
    proxy: { '/api': 'http://127.0.0.1:8025' },
  },
});
