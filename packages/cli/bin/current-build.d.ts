/** See current-build.js. */
export function currentBuild(root: string, environment: NodeJS.ProcessEnv): string | undefined;
