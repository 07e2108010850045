/** The soak's rows and its own section of bench/results.md (the soak runs alone: `--only soak`). */
import { readFile, writeFile } from 'node:fs/promises';
import type { Row } from './report';
import type { SoakResult } from './rows/soak';
import { round, summarize } from './stats';

const MiB = 2 ** 20;

export function soakRow(r: SoakResult): Record<string, Row> {
  const ratio = r.rssAtEnd / r.rssAfterFirst100k;
  return {
    soak_lost: {
      what: `soak: ${r.count.toLocaleString('en-US')} msgs, 3 functions, a replica killed every 30 s: lost (duplicates in the note)`,
      unit: 'msgs',
      figure: summarize([r.lost]),
      baseline: null,
      ratio: null,
      target: '0 lost',
      met: r.lost === 0,
      note: `${r.duplicates} duplicates; ${r.handled.toLocaleString('en-US')} outputs, ${r.deadLettered.toLocaleString('en-US')} dead letters (${r.deadByWarren.toLocaleString('en-US')} with Warren's headers), ${r.retried.toLocaleString('en-US')} retries, ${r.replicaDeaths} replica deaths from ${r.kills} kills; ${Math.round(r.seconds)} s`,
    },
    soak_rss: {
      what: 'soak: RSS at the end against RSS after the first 100,000',
      unit: 'MiB',
      figure: summarize([r.rssAtEnd / MiB]),
      baseline: { label: 'after 100k', unit: 'MiB', value: summarize([r.rssAfterFirst100k / MiB]) },
      ratio: summarize([ratio]),
      target: 'ratio ≤ 1.1',
      met: ratio <= 1.1,
      note: `highest RSS seen: ${Math.round(r.rssMax / MiB)} MiB`,
    },
  };
}

const HEADING = '## Soak';

/** Replace (or add) the soak section of results.md, leaving the rest of the file as the full run wrote it. */
export async function writeSoakSection(file: string, r: SoakResult): Promise<void> {
  const current = await readFile(file, 'utf8').catch(() => '# Warren benchmark results\n');
  const mib = (n: number) => `${Math.round(n / MiB)} MiB`;
  const section = [
    HEADING,
    '',
    `Date: ${new Date().toISOString()}. \`npm run bench -- --only soak\` (not part of the full run or CI).  `,
    `${r.count.toLocaleString('en-US')} messages published to 3 functions (2 replicas, prefetch 50 each) at the pace they are consumed; per id: 2 % Reject, 3 % fail once then succeed, 1 % always fail (2 attempts), the rest succeed; `,
    `every 30 s a message that exits its replica on its first delivery (${r.kills} of them). Every id counted in the handlers' output and the dead-letter queues.`,
    '',
    '| figure | value | target | met |',
    '| --- | --- | --- | --- |',
    `| lost | ${r.lost} | 0 | ${r.lost === 0 ? 'yes' : 'NO'} |`,
    `| duplicates | ${r.duplicates} | counted | — |`,
    `| outputs / dead letters (by Warren) / retries | ${r.handled.toLocaleString('en-US')} / ${r.deadLettered.toLocaleString('en-US')} (${r.deadByWarren.toLocaleString('en-US')}) / ${r.retried.toLocaleString('en-US')} | — | — |`,
    `| replica deaths | ${r.replicaDeaths} | — | — |`,
    `| RSS after the first 100,000 → at the end (highest) | ${mib(r.rssAfterFirst100k)} → ${mib(r.rssAtEnd)} (${mib(r.rssMax)}), ratio ${round(r.rssAtEnd / r.rssAfterFirst100k, 2)} | ≤ 1.1 | ${r.rssAtEnd <= 1.1 * r.rssAfterFirst100k ? 'yes' : 'NO'} |`,
    `| duration | ${Math.round(r.seconds)} s (${Math.round((r.count + r.kills) / r.seconds).toLocaleString('en-US')} msg/s) | — | — |`,
    '',
  ].join('\n');
  const at = current.indexOf(`\n${HEADING}\n`);
  const before = at < 0 ? current.trimEnd() + '\n' : current.slice(0, at + 1);
  const after = at < 0 ? '' : current.slice(at + 1 + HEADING.length).replace(/^[\s\S]*?(?=\n## |$)/, '');
  await writeFile(file, `${before}\n${section}${after}`);
}

/** The soak section a full run keeps when it rewrites results.md ('' when there is none). */
export async function keptSoakSection(file: string): Promise<string> {
  const current = await readFile(file, 'utf8').catch(() => '');
  const at = current.indexOf(`\n${HEADING}\n`);
  if (at < 0) return '';
  const rest = current.slice(at + 1);
  const end = rest.indexOf('\n## ', HEADING.length);
  return end < 0 ? rest : rest.slice(0, end + 1);
}
