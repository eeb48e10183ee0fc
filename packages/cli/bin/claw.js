#!/usr/bin/env node
// The `claw` executable. The workspace runs TypeScript sources through tsx (as `npm start` does),
// so this shim registers tsx's loader and hands over to the CLI's main module.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
