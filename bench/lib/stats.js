/** Summary statistics for a handful of noisy samples: the median counts, min..max shows the spread. */
export function summarize(xs) {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return { n: 0, median: NaN, min: NaN, max: NaN };
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { n: s.length, median, min: s[0], max: s[s.length - 1] };
}

/** "12.34 s (11.9–13.0, n=3)" for milliseconds. */
export function fmtSeconds(sum, digits = 2) {
  if (!sum.n) return 'n/a';
  const f = (ms) => (ms / 1000).toFixed(digits);
  return `${f(sum.median)} s (${f(sum.min)}–${f(sum.max)}, n=${sum.n})`;
}

export function fmtMs(sum, digits = 1) {
  if (!sum.n) return 'n/a';
  return `${sum.median.toFixed(digits)} ms (${sum.min.toFixed(digits)}–${sum.max.toFixed(digits)}, n=${sum.n})`;
}

export function ratio(a, b, digits = 2) {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? (a / b).toFixed(digits) : 'n/a';
}
