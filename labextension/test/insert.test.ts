import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { digest } from '../src/digest';
import { ICellInfo, planInsert } from '../src/insert';
import { parseInsert } from '../src/protocol';

/** A plain cell, or a generated one of `anchor` (edited: source changed after generation). */
function cell(id: string, anchor?: string, edited = false): ICellInfo {
  const source = `source of ${id}`;
  const text2ml =
    anchor === undefined
      ? undefined
      : { run: 'r1', role: 'code', anchor, digest: digest(edited ? 'old' : source) };
  return { id, source, text2ml };
}

/** Apply a plan to ids the way index.ts applies it to the shared model. */
function apply(cells: ICellInfo[], anchor: string, execCell: string | null, added: string[]) {
  const plan = planInsert(cells, anchor, execCell);
  const ids = cells.map(c => c.id);
  for (const index of plan.remove) {
    ids.splice(index, 1);
  }
  ids.splice(plan.insertAt, 0, ...added);
  return { ids, plan };
}

test('first run: new cells go right after the anchor', () => {
  const { ids, plan } = apply([cell('a'), cell('X'), cell('b')], 'X', 'X', ['n1', 'n2']);
  assert.deepEqual(ids, ['a', 'X', 'n1', 'n2', 'b']);
  assert.deepEqual(plan, { remove: [], insertAt: 2, kept: 0 });
});

test('re-run: unchanged generated cells are replaced in place, edited ones kept', () => {
  const cells = [
    cell('X'),
    cell('g1', 'X'),
    cell('mine'),
    cell('g2', 'X', true),
    cell('g3', 'X'),
    cell('other', 'Y'),
    cell('z')
  ];
  const { ids, plan } = apply(cells, 'X', 'X', ['n1']);
  assert.deepEqual(ids, ['X', 'n1', 'mine', 'g2', 'other', 'z']);
  assert.deepEqual(plan, { remove: [4, 1], insertAt: 1, kept: 1 });
});

test('generated cells moved above the anchor: insert where the first one was', () => {
  const cells = [cell('a'), cell('g1', 'X'), cell('X'), cell('g2', 'X')];
  assert.deepEqual(apply(cells, 'X', null, ['n']).ids, ['a', 'n', 'X']);
});

test('all generated cells edited: insert after the anchor, keep them', () => {
  const cells = [cell('X'), cell('g1', 'X', true)];
  const { ids, plan } = apply(cells, 'X', null, ['n']);
  assert.deepEqual(ids, ['X', 'n', 'g1']);
  assert.equal(plan.kept, 1);
});

test('anchor missing: after the executing cell, else at the end', () => {
  const cells = [cell('a'), cell('E'), cell('b')];
  assert.deepEqual(apply(cells, 'gone', 'E', ['n']).ids, ['a', 'E', 'n', 'b']);
  assert.deepEqual(apply(cells, 'gone', 'missing', ['n']).ids, ['a', 'E', 'b', 'n']);
  assert.deepEqual(apply(cells, 'gone', null, ['n']).ids, ['a', 'E', 'b', 'n']);
  assert.deepEqual(apply([], 'gone', null, ['n']).ids, ['n']);
});

test('only cells with text2ml metadata of this anchor are ever removed', () => {
  const cells: ICellInfo[] = [
    cell('X'),
    { id: 'm1', source: 's', text2ml: 'not an object' },
    { id: 'm2', source: 's', text2ml: { anchor: 'X' } }, // no digest: treated as edited
    { id: 'm3', source: 's', text2ml: { anchor: 'Y', digest: digest('s') } },
    { id: 'm4', source: 's', text2ml: null }
  ];
  const plan = planInsert(cells, 'X', 'X');
  assert.deepEqual(plan.remove, []);
  assert.equal(plan.kept, 1);
});

test('the anchor and the executing cell are never removed', () => {
  const self = { id: 'X', source: 's', text2ml: { anchor: 'X', digest: digest('s') } };
  const exec = { id: 'E', source: 't', text2ml: { anchor: 'X', digest: digest('t') } };
  assert.deepEqual(planInsert([self, exec], 'X', 'E').remove, []);
});

test('parseInsert validates the message', () => {
  const ok = parseInsert({
    type: 'insert',
    request_id: 'r',
    anchor: 'X',
    exec_cell: null,
    cells: [{ cell_type: 'code', source: 'x = 1', metadata: { tags: ['text2ml'] } }]
  });
  assert.equal(ok.cells[0].cell_type, 'code');
  assert.throws(() => parseInsert({ type: 'insert', request_id: 'r', anchor: 'X', cells: [{ cell_type: 'raw', source: '' }] }), /cell 0/);
  assert.throws(() => parseInsert({ type: 'insert', anchor: 'X', cells: [] }), /request_id/);
});
