/**
 * Parser for `VBoxManage showvminfo --machinereadable` (and the other
 * `--machinereadable` outputs). The format, from VBoxManageInfo.cpp:
 *   key="value"            most strings; `"` and `\` inside are backslash-escaped
 *   key=value              numbers (memory=2048, cpus=2)
 *   "quoted key"="value"   keys that contain spaces, dashes or `=` ("SATA-0-0")
 * A quoted value may span lines: only `"` and `\` are escaped, so a description
 * with a newline is printed as is. Lines without `=` (VirtualBox 7.0 prints
 * e.g. "Encryption:     disabled" among them) are skipped, not fatal.
 */
export type MachineReadable = Map<string, string>;

export function parseMachineReadable(text: string): MachineReadable {
  const out: MachineReadable = new Map();
  let i = 0;
  const n = text.length;
  while (i < n) {
    // One entry per iteration; `i` is at the start of a line.
    const lineEnd = indexOrEnd(text, '\n', i);
    let key: string;
    let j: number;
    if (text[i] === '"') {
      const k = readQuoted(text, i);
      if (!k || text[k.end] !== '=') {
        i = lineEnd + 1;
        continue;
      }
      key = k.value;
      j = k.end + 1;
    } else {
      const eq = text.indexOf('=', i);
      if (eq < 0 || eq > lineEnd) {
        i = lineEnd + 1;
        continue;
      }
      key = text.slice(i, eq).trim();
      j = eq + 1;
    }
    if (text[j] === '"') {
      const v = readQuoted(text, j);
      if (v) {
        out.set(key, v.value);
        // Anything after the closing quote (BandwidthGroupN="name",Disk,0) belongs to the value's line.
        const rest = text.slice(v.end, indexOrEnd(text, '\n', v.end)).replace(/\r$/, '');
        if (rest !== '') out.set(key, v.value + rest);
        i = indexOrEnd(text, '\n', v.end) + 1;
        continue;
      }
    }
    out.set(key, text.slice(j, lineEnd).replace(/\r$/, ''));
    i = lineEnd + 1;
  }
  return out;
}

function indexOrEnd(text: string, ch: string, from: number): number {
  const k = text.indexOf(ch, from);
  return k < 0 ? text.length : k;
}

/** Reads a `"..."` token starting at `start`; returns the unescaped value and the index after the closing quote. */
function readQuoted(text: string, start: number): { value: string; end: number } | undefined {
  let value = '';
  for (let k = start + 1; k < text.length; k++) {
    const c = text[k];
    if (c === '\\' && k + 1 < text.length) {
      value += text[k + 1];
      k++;
    } else if (c === '"') {
      return { value, end: k + 1 };
    } else {
      value += c;
    }
  }
  return undefined;
}

/** One NAT port-forwarding rule, as `Forwarding(N)="name,proto,hostip,hostport,guestip,guestport"`. */
export interface NatRule {
  name: string;
  protocol: 'tcp' | 'udp';
  hostIp: string;
  hostPort: number;
  guestIp: string;
  guestPort: number;
}

export function natRules(info: MachineReadable): NatRule[] {
  const rules: NatRule[] = [];
  for (const [key, value] of info) {
    if (!/^Forwarding\(\d+\)$/.test(key)) continue;
    const f = value.split(',');
    if (f.length !== 6) continue;
    const [name, protocol, hostIp, hostPort, guestIp, guestPort] = f as [string, string, string, string, string, string];
    if (protocol !== 'tcp' && protocol !== 'udp') continue;
    rules.push({ name, protocol, hostIp, hostPort: Number(hostPort), guestIp, guestPort: Number(guestPort) });
  }
  return rules;
}
