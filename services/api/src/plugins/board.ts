/**
 * @file bull-board at `/admin/queues`: one panel per stage queue, over the producer's queue objects
 * (`RunQueues.queue(stage)`), so this service never imports bullmq itself. The board has no
 * authentication of its own; the auth hook requires an API key for every path under it.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { STAGES } from '@synood/contracts';
import type { RunQueues } from '@synood/queue';
import type { FastifyInstance } from 'fastify';

/** Where the board is served. */
export const BOARD_PATH = '/admin/queues';

/** Mounts bull-board at {@link BOARD_PATH}. */
export async function registerBoard(app: FastifyInstance, queues: RunQueues): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  createBullBoard({
    queues: STAGES.map((stage) => new BullMQAdapter(queues.queue(stage))),
    // @bull-board/fastify pins its own patch release of @bull-board/api, whose adapter classes are
    // nominally distinct types (private members) from the top-level ones; the interface is the same.
    serverAdapter: serverAdapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
    options: { uiConfig: { boardTitle: 'synood queues' } },
  });
  serverAdapter.setBasePath(BOARD_PATH);
  await app.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
}
