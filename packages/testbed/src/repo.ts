import { fileURLToPath } from 'node:url';

/** The repository's root directory (with a trailing slash): compose files, dashboards, provisioning. */
export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
