import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The package version (dist/ and src/ both sit next to package.json). */
export const AGENT_VERSION: string = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
