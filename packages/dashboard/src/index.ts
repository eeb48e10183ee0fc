import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The absolute path of the dashboard's static files (HTML, CSS, ES-module JavaScript), served as
 * they are by the orchestrator's HTTP server at `/`; `index.html` is the dashboard (the server's own
 * `/login` page sets the session cookie it needs). Nothing needs building: the directory is complete
 * in the source tree.
 */
export const dashboardAssetDirectory: string = join(
  dirname(fileURLToPath(import.meta.url)),
  // In a bundle `npm run build` makes, this module is inlined into `dist/runtime/<entry>.js`, two levels
  // below the repository root (as packages/agents finds its folders).
  import.meta.url.endsWith('.ts') ? '..' : '../../packages/dashboard',
  'public',
);

/** The pages in {@link dashboardAssetDirectory}, relative to it. */
export const DASHBOARD_PAGES = { dashboard: 'index.html' } as const;
