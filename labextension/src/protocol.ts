/**
 * Messages on the `text2ml` comm (kernel side: text2ml_jupyter). Only shapes and checks
 * here; no JupyterLab imports, so the module can be tested in plain Node.
 */

/** Comm target the kernel opens. */
export const COMM_TARGET = 'text2ml';

/** Extension version sent in `hello`; a test keeps it equal to package.json's. */
export const VERSION = '0.1.0';

/** metadata.text2ml of a generated cell. */
export interface IText2MLMeta {
  run: string;
  role: string;
  anchor: string;
  digest: string;
}

/** One cell to insert, as the kernel sends it. */
export interface INewCell {
  cell_type: 'markdown' | 'code';
  source: string;
  metadata: { [key: string]: unknown };
}

/** Kernel -> frontend: replace the generated cells of one `%%text2ml` cell. */
export interface IInsertRequest {
  type: 'insert';
  request_id: string;
  anchor: string;
  exec_cell: string | null;
  cells: INewCell[];
}

/** Frontend -> kernel: the outcome of an insert request. */
export type InsertedReply =
  | {
      type: 'inserted';
      request_id: string;
      inserted: number;
      removed: number;
      kept: number;
    }
  | { type: 'inserted'; request_id: string; error: string };

function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The `type` of a message, or undefined when it is not an object with a string type. */
export function messageType(data: unknown): string | undefined {
  return isObject(data) && typeof data.type === 'string' ? data.type : undefined;
}

/** Validate an insert message; throws with a readable message (sent back as `error`). */
export function parseInsert(data: unknown): IInsertRequest {
  if (!isObject(data) || data.type !== 'insert') {
    throw new Error('not an insert message');
  }
  const { request_id, anchor, exec_cell, cells } = data;
  if (typeof request_id !== 'string' || typeof anchor !== 'string') {
    throw new Error('insert: request_id and anchor must be strings');
  }
  if (exec_cell !== null && exec_cell !== undefined && typeof exec_cell !== 'string') {
    throw new Error('insert: exec_cell must be a string or null');
  }
  if (!Array.isArray(cells)) {
    throw new Error('insert: cells must be a list');
  }
  const parsed = cells.map((cell: unknown, i: number): INewCell => {
    if (
      !isObject(cell) ||
      (cell.cell_type !== 'markdown' && cell.cell_type !== 'code') ||
      typeof cell.source !== 'string'
    ) {
      throw new Error(`insert: cell ${i} needs cell_type markdown|code and a string source`);
    }
    const metadata = isObject(cell.metadata) ? cell.metadata : {};
    return { cell_type: cell.cell_type, source: cell.source, metadata };
  });
  return {
    type: 'insert',
    request_id,
    anchor,
    exec_cell: exec_cell ?? null,
    cells: parsed
  };
}

/** metadata.text2ml of a cell when it names an anchor, else null (not a generated cell). */
export function text2mlMeta(value: unknown): IText2MLMeta | null {
  if (isObject(value) && typeof value.anchor === 'string') {
    return {
      run: String(value.run ?? ''),
      role: String(value.role ?? ''),
      anchor: value.anchor,
      // A missing digest matches no source, so such a cell counts as edited and is kept.
      digest: typeof value.digest === 'string' ? value.digest : ''
    };
  }
  return null;
}
