import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { digest } from '../src/digest';
import { VERSION } from '../src/protocol';

test('FNV-1a 32 test vectors (the kernel side uses the same ones)', () => {
  assert.equal(digest(''), '811c9dc5');
  assert.equal(digest('a'), 'e40c292c');
  assert.equal(digest('foobar'), 'bf9cf968');
});

test('digest hashes UTF-8 bytes, not UTF-16 code units', () => {
  // "é" is two UTF-8 bytes; hashing them one by one must give the same digest.
  let hash = 0x811c9dc5;
  for (const byte of [0xc3, 0xa9]) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  assert.equal(digest('é'), hash.toString(16).padStart(8, '0'));
  assert.match(digest('print("héllo 🌍")\n'), /^[0-9a-f]{8}$/);
});

test('VERSION matches package.json and the Python package', () => {
  const root = process.cwd(); // `jlpm test` runs in labextension/
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  assert.equal(VERSION, pkg.version);
  const init = readFileSync(join(root, '..', 'text2ml_jupyter', '__init__.py'), 'utf8');
  assert.match(init, new RegExp(`__version__ = "${VERSION.replace(/\./g, '\\.')}"`));
});
