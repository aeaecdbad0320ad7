// node:http and node:https loaded with require, not import. An ES import of
// node:http builds a module namespace, which reads every lazy export, and one
// of them loads Node's bundled fetch (undici): ~30 ms of every session's
// start for nothing (measured on Node 24: 35 ms imported, 3 ms required).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** node:http. */
export const http = require('node:http') as typeof import('node:http');
/** node:https. */
export const https = require('node:https') as typeof import('node:https');
