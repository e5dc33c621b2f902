// A static require (not a file read) so bundlers inline it: the single-file agent has no package.json.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pkg = require('../package.json') as { version: string };

/** The package version (dist/ and src/ both sit next to package.json). */
export const AGENT_VERSION: string = pkg.version;
