/**
 * The dashboard's colours (runtime/dashboard/styles.css), light and dark: every pair the page puts
 * text on reaches WCAG AA for normal text, 4.5:1.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const css = readFileSync(new URL('../../runtime/dashboard/styles.css', import.meta.url), 'utf8');

function palette(block: string): Record<string, string> {
  return Object.fromEntries([...block.matchAll(/--([\w-]+):\s*(#[0-9a-f]{6})\s*;/gi)].map((m) => [m[1]!, m[2]!]));
}

const light = palette(css.slice(css.indexOf(':root'), css.indexOf('@media (prefers-color-scheme: dark)')));
const dark = { ...light, ...palette(css.slice(css.indexOf('@media (prefers-color-scheme: dark)'), css.indexOf('* {'))) };

function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/** text colour on background colour, as styles.css pairs them */
const PAIRS: Array<[string, string]> = [
  ['text', 'bg'],
  ['text', 'panel'],
  ['muted', 'bg'],
  ['muted', 'panel'],
  ['muted', 'panel-2'],
  ['muted', 'accent-soft'], // a cell of the open dead letter's row
  ['muted', 'warn-soft'],
  ['accent', 'panel'],
  ['accent', 'accent-soft'], // the open row's link, schema badges
  ['ok', 'ok-soft'],
  ['bad', 'bad-soft'],
  ['warn', 'warn-soft'],
  ['bad', 'panel'],
  ['warn', 'panel'],
  ['on-fill', 'accent'],
  ['on-fill', 'bad'],
  ['on-fill', 'warn'],
];

describe('dashboard colours', () => {
  for (const [scheme, colours] of [
    ['light', light],
    ['dark', dark],
  ] as const) {
    it(`reach 4.5:1 for text in the ${scheme} scheme`, () => {
      const low = PAIRS.filter(([fg, bg]) => contrast(colours[fg]!, colours[bg]!) < 4.5).map(
        ([fg, bg]) => `${fg} on ${bg}: ${contrast(colours[fg]!, colours[bg]!).toFixed(2)}`,
      );
      expect(low).toEqual([]);
    });
  }
});
