import { describe, expect, it } from 'vitest';
import { SkiffError } from '../../src/errors.js';
import { checkImageSource } from '../../src/image/store.js';

function refusal(fn: () => void): SkiffError | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e as SkiffError;
  }
}

describe('checkImageSource', () => {
  it.each(['http://', 'https://', 'http://exa mple/x.iso', 'http://[::1/x.iso'])('refuses the malformed URL %s from --iso', (iso) => {
    const e = refusal(() => checkImageSource({ iso }, {}));
    expect(e).toBeInstanceOf(SkiffError);
    expect(e?.code).toBe('invalid-url');
    expect(e?.message).toBe(`invalid image URL ${JSON.stringify(iso)} (from --iso)`);
  });

  it('names SKIFF_ISO_URL when the bad URL came from there', () => {
    expect(refusal(() => checkImageSource({}, { SKIFF_ISO_URL: 'https://' }))?.message).toMatch(/\(from SKIFF_ISO_URL\)$/);
  });

  it('--iso wins over SKIFF_ISO_URL, as in resolve()', () => {
    expect(refusal(() => checkImageSource({ iso: './skiff.iso' }, { SKIFF_ISO_URL: 'https://' }))).toBeUndefined();
  });

  it.each(['http://127.0.0.1:8080/skiff-amd64.iso', 'file:///tmp/skiff.iso', 'iso/out/skiff-amd64.iso', '/abs/x.iso', ''])(
    'lets %j through (whether it exists is resolve()\'s question)',
    (iso) => {
      expect(refusal(() => checkImageSource({ iso }, {}))).toBeUndefined();
    },
  );
});
