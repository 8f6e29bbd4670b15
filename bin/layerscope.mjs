#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx (a dependency), so `npx layerscope` works after npm install.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
