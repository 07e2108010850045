/**
 * The fastest plain client as a process of its own, started cold as a user starts one (and as
 * Warren's replica starts): `node fresh-client.mjs URL QUEUE COUNT PREFETCH` drains COUNT messages
 * and prints its msg/s. Built beside the bench by bench/run.mjs.
 */
import { drainFastest } from './fastest-client';

const [url, queue, count, prefetch] = process.argv.slice(2);
if (!url || !queue || !count || !prefetch) throw new Error('usage: fresh-client URL QUEUE COUNT PREFETCH');
process.stdout.write(`${await drainFastest(url, queue, Number(count), Number(prefetch))}\n`);
