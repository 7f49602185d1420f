import { ExitCode, SkiffError } from '../errors.js';
import { validateMachineName } from '../layout/paths.js';
import { ipv4Field } from '../network/fields.js';

/** `--machines a,b,c`: names in order (the first is the manager), each once. */
export function parseMachineList(text: string): string[] {
  const names = text.split(',').map((n) => n.trim());
  if (names.every((n) => n === '')) {
    throw new SkiffError('invalid-machines', '--machines needs at least one machine name', {
      hint: 'e.g. --machines a,b,c (the first is the manager)',
      exitCode: ExitCode.usage,
    });
  }
  if (names.includes('')) {
    throw new SkiffError('invalid-machines', `--machines ${JSON.stringify(text)} has an empty name`, {
      hint: 'separate the names with single commas: --machines a,b,c',
      exitCode: ExitCode.usage,
    });
  }
  names.forEach(validateMachineName);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) {
    throw new SkiffError('invalid-machines', `--machines names "${twice}" twice`, {
      hint: 'a machine is one node of a swarm: name each once',
      exitCode: ExitCode.usage,
    });
  }
  return names;
}

export function parseAdvertiseAddr(text: string): string {
  if (!ipv4Field.safeParse(text).success) {
    throw new SkiffError('invalid-advertise-address', `--advertise-addr ${JSON.stringify(text)} is not an IPv4 address`, {
      hint: 'give one of the manager\'s addresses, e.g. --advertise-addr 192.168.1.10',
      exitCode: ExitCode.usage,
    });
  }
  return text;
}
