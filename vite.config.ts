import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// base './' makes dist/ work from any sub-path of a static host.
export default defineConfig({
  base: './',
  plugins: [svelte()],
  worker: { format: 'es' },
  build: { target: 'es2022', sourcemap: true },
  optimizeDeps: { include: ['comlink', 'fflate', 'fzstd', 'idb-keyval', '@noble/hashes/sha2.js', '@noble/hashes/blake3.js', '@noble/hashes/utils.js'] },
});
