/**
 * text2ml-jupyter: the kernel runs a `%%text2ml` cell and sends the resulting cells over
 * the `text2ml` comm; this plugin writes them into the notebook next to that cell.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookTracker, Notebook, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage } from '@jupyterlab/services';

import { planInsert } from './insert';
import {
  COMM_TARGET,
  InsertedReply,
  messageType,
  parseInsert,
  VERSION
} from './protocol';

// Cell data as the notebook's shared model takes it (derived, so no @jupyter/ydoc import
// whose version differs between JupyterLab 4.x releases).
type SharedNotebook = NonNullable<Notebook['model']>['sharedModel'];
type CellData = Parameters<SharedNotebook['insertCells']>[1][number];

/** Apply one insert request to the panel's notebook; never throws (errors are replied). */
function applyInsert(panel: NotebookPanel, data: unknown): InsertedReply {
  const requestId =
    typeof (data as { request_id?: unknown })?.request_id === 'string'
      ? (data as { request_id: string }).request_id
      : '';
  try {
    const request = parseInsert(data);
    const model = panel.content.model;
    if (model === null) {
      throw new Error('the notebook has no model');
    }
    const shared = model.sharedModel;
    const plan = planInsert(
      shared.cells.map(cell => ({
        id: cell.getId(),
        source: cell.getSource(),
        text2ml: cell.getMetadata('text2ml')
      })),
      request.anchor,
      request.exec_cell
    );
    const cells = request.cells.map(
      (cell): CellData =>
        (cell.cell_type === 'code'
          ? { ...cell, outputs: [], execution_count: null }
          : { ...cell }) as CellData
    );
    // One transaction: one undo step, one model change (the notebook is never empty in
    // between). Non-empty markdown cells are created rendered by the notebook widget.
    shared.transact(() => {
      for (const index of plan.remove) {
        shared.deleteCell(index);
      }
      shared.insertCells(plan.insertAt, cells);
    });
    return {
      type: 'inserted',
      request_id: request.request_id,
      inserted: cells.length,
      removed: plan.remove.length,
      kept: plan.kept
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { type: 'inserted', request_id: requestId, error: message };
  }
}

function send(comm: Kernel.IComm, data: Record<string, string | number>): void {
  try {
    comm.send(data);
  } catch (error) {
    // The comm closes when the kernel restarts or shuts down; nothing to report to.
    console.warn('text2ml: could not send on comm', comm.commId, error);
  }
}

/** Handle one kernel -> frontend message (the comm_open data or a later comm_msg). */
function handle(panel: NotebookPanel, comm: Kernel.IComm, data: unknown): void {
  const type = messageType(data);
  if (type === 'insert') {
    send(comm, applyInsert(panel, data));
  } else if (type !== 'hello') {
    console.debug('text2ml: ignoring message', data);
  }
}

/** Register the comm target on the panel's kernel now and whenever the kernel changes. */
function watchPanel(panel: NotebookPanel): void {
  const register = (kernel: Kernel.IKernelConnection | null | undefined) => {
    kernel?.registerCommTarget(
      COMM_TARGET,
      (comm: Kernel.IComm, msg: KernelMessage.ICommOpenMsg) => {
        send(comm, { type: 'hello', frontend: 'jupyterlab', version: VERSION });
        comm.onMsg = reply => handle(panel, comm, reply.content.data);
        handle(panel, comm, msg.content.data);
      }
    );
  };
  // Registrations live on the kernel connection, which survives restarts; a new kernel
  // (change kernel, or the session starting after the panel opened) needs a new one.
  panel.sessionContext.kernelChanged.connect((_, change) =>
    register(change.newValue)
  );
  register(panel.sessionContext.session?.kernel);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'text2ml-jupyter:plugin',
  description: 'Writes the result of a %%text2ml run into the notebook as cells.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker) => {
    tracker.forEach(watchPanel); // panels restored before this plugin activated
    tracker.widgetAdded.connect((_, panel) => watchPanel(panel));
  }
};

export default plugin;
