/** Quotes a word for a POSIX shell: single quotes, with each ' closed, escaped and reopened. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
