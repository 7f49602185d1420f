import { readdir } from 'node:fs/promises';
import type { z } from 'zod';
import { readTextIfExists } from './exists.js';
import { parseYamlFile } from './yaml-file.js';

/*
 * A directory of NAME.yaml files, each an object that names itself NAME
 * (networks/, swarms/): a file whose name and content disagree was renamed or
 * copied by hand, and is called corrupt rather than trusted.
 */

/** The object in `file`, checked against its schema and its name; undefined when there is no file. */
export async function loadNamedYaml<S extends z.ZodType<{ name: string }>>(
  file: string,
  name: string,
  schema: S,
  broken: (why: string) => Error,
  kind: string,
): Promise<z.output<S> | undefined> {
  const text = await readTextIfExists(file);
  if (text === undefined) return undefined;
  const value = parseYamlFile(text, schema, broken);
  if (value.name !== name) throw broken(`it names ${kind} "${value.name}"`);
  return value;
}

/** Every NAME.yaml in dir (hidden files, such as locks, left out), loaded by name in name order; none when dir is absent. */
export async function loadAllNamed<T>(dir: string, load: (name: string) => Promise<T | undefined>): Promise<T[]> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: T[] = [];
  for (const f of files.filter((f) => f.endsWith('.yaml') && !f.startsWith('.')).sort()) {
    const v = await load(f.slice(0, -'.yaml'.length));
    if (v !== undefined) out.push(v);
  }
  return out;
}
