import YAML from 'yaml';
import type { z } from 'zod';
import { writeFileAtomic } from './atomic-file.js';

/** zod's issues as one line: "path: message; path: message". */
export function describeZodError(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`).join('; ');
}

/**
 * The text of one of skiff's YAML files, checked against its schema. Anything
 * wrong (bad YAML, a field out of shape) becomes `broken(why)`, the caller's
 * one-line "file is corrupt" error, never a parser's stack.
 */
export function parseYamlFile<S extends z.ZodType>(text: string, schema: S, broken: (why: string) => Error): z.output<S> {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (e) {
    throw broken((e as Error).message.split('\n')[0] ?? 'bad YAML');
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw broken(describeZodError(r.error));
  return r.data;
}

/** Validates, then writes atomically and readable by the user alone, under a one-line header comment. */
export async function writeYamlFile<S extends z.ZodType>(file: string, header: string, schema: S, value: z.input<S>): Promise<void> {
  const valid = schema.parse(value);
  await writeFileAtomic(file, `# ${header}\n` + YAML.stringify(valid), { mode: 0o600 });
}
