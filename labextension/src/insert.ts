/**
 * Which cells an insert request removes and where the new cells go. Pure: it sees the
 * notebook only through `ICellInfo`, so it runs (and is tested) without JupyterLab.
 */
import { digest } from './digest';
import { text2mlMeta } from './protocol';

/** What the plan needs to know about one notebook cell. */
export interface ICellInfo {
  id: string;
  source: string;
  /** The cell's metadata.text2ml (any shape: users can edit metadata). */
  text2ml: unknown;
}

export interface IInsertPlan {
  /** Indices to delete, descending, so deleting them one by one keeps the rest valid. */
  remove: number[];
  /** Index for the new cells, counted after the removals. */
  insertAt: number;
  /** Generated cells of this anchor left alone because the user edited them. */
  kept: number;
}

export function planInsert(
  cells: readonly ICellInfo[],
  anchor: string,
  execCell: string | null
): IInsertPlan {
  const remove: number[] = [];
  let kept = 0;
  cells.forEach((cell, index) => {
    const meta = text2mlMeta(cell.text2ml);
    if (meta === null || meta.anchor !== anchor) {
      return; // not generated from this anchor: never touched
    }
    // The anchor and the executing cell are never deleted, even if they carry
    // generated metadata (e.g. the user ran %%text2ml from a generated cell).
    const isLive = cell.id === anchor || cell.id === execCell;
    if (!isLive && digest(cell.source) === meta.digest) {
      remove.push(index);
    } else {
      kept++; // edited by the user since it was generated
    }
  });

  let insertAt: number;
  if (remove.length > 0) {
    // Only removed cells at or after remove[0] shift, so this index is still valid.
    insertAt = remove[0];
  } else {
    let base = cells.findIndex(cell => cell.id === anchor);
    if (base < 0 && execCell !== null) {
      base = cells.findIndex(cell => cell.id === execCell);
    }
    insertAt = base < 0 ? cells.length : base + 1;
  }
  return { remove: remove.reverse(), insertAt, kept };
}
