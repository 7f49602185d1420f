/** Edits (insert, delete, substitute, swap two neighbours) from a to b. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const sub = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + sub);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The existing name `name` was most likely meant to be: the same but for case,
 * or one or two slips of the keyboard away. Short names tell less: names of
 * three or four letters match a swap of two neighbours only ("wbe" for "web",
 * not "api" for "app"), names of one or two letters case only. Names that
 * differ only in their digits are siblings, not slips ("web2" beside "web1" or "web").
 */
export function nearestName(name: string, names: string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  const digitless = (x: string) => x.replace(/[0-9]+/g, '');
  for (const n of names) {
    if (n === name) return undefined;
    if (n.toLowerCase() === name.toLowerCase()) return n;
    if (digitless(n) === digitless(name)) continue;
    const d = editDistance(name, n);
    const shortest = Math.min(name.length, n.length);
    const near = shortest <= 2 ? false : shortest <= 4 ? d === 1 && isSwap(name, n) : d <= 2;
    if (near && (!best || d < best.d)) best = { name: n, d };
  }
  return best?.name;
}

/** b is a with two neighbouring letters swapped. */
function isSwap(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  const diff = [...a].flatMap((c, i) => (c === b[i] ? [] : [i]));
  return diff.length === 2 && diff[1] === diff[0]! + 1 && a[diff[0]!] === b[diff[1]!] && a[diff[1]!] === b[diff[0]!];
}
