// The in-memory ValidatingWebhookConfigurations: list, then watch; changes
// applied as they come; a watch that ends or errs starts again from a list;
// a list that fails is retried; requests wait for the first list, boundedly.
import test from 'ava';
import { WebhookConfigurations } from '../../server/webhook-configurations.ts';
import type { ConfigurationFeed, WatchEvent } from '../../server/webhook-configurations.ts';
import { memoryLogger } from './helpers/fakes.ts';

function vwc(name: string, hooks: string[]): unknown {
  return { metadata: { name }, webhooks: hooks.map((h) => ({ name: h })) };
}

/** A feed the test drives: lists answer `items` (or throw `listError`), watches hand their event sink to the test. */
function fakeFeed() {
  const state = {
    items: [] as unknown[],
    listError: undefined as Error | undefined,
    lists: 0,
    watches: [] as { rv: string; send(e: WatchEvent): void; end(): void; aborted: boolean }[],
  };
  const listed: (() => void)[] = [];
  const feed: ConfigurationFeed = {
    async list() {
      state.lists++;
      for (const l of listed.splice(0)) l();
      if (state.listError !== undefined) throw state.listError;
      return { items: state.items, resourceVersion: String(state.lists) };
    },
    async watch(rv, onEvent) {
      let end: () => void = () => {};
      const done = new Promise<void>((r) => (end = r));
      const w = { rv, send: onEvent, end: () => end(), aborted: false };
      state.watches.push(w);
      return {
        done,
        abort: () => {
          w.aborted = true;
          end();
        },
      };
    },
  };
  const nextList = () => new Promise<void>((r) => listed.push(r));
  return { feed, state, nextList };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 2));
  if (!check()) throw new Error('condition not reached');
}

test('the first list fills the cache and the watch starts from its resourceVersion; events add, change and remove', async (t) => {
  const { feed, state } = fakeFeed();
  state.items = [vwc('b', ['b1']), vwc('a', ['a1', 'a2'])];
  const cache = new WebhookConfigurations({ feed, logger: memoryLogger().logger });
  cache.start();
  t.teardown(() => cache.stop());
  t.true(await cache.waitReady(1000));
  t.deepEqual(cache.webhooks().map((h) => h.name), ['a1', 'a2', 'b1'], 'in configuration-name order');
  await until(() => state.watches.length === 1);
  t.is(state.watches[0]?.rv, '1');
  state.watches[0]?.send({ type: 'ADDED', object: vwc('c', ['c1']) });
  state.watches[0]?.send({ type: 'MODIFIED', object: vwc('a', ['a3']) });
  state.watches[0]?.send({ type: 'DELETED', object: vwc('b', []) });
  state.watches[0]?.send({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } });
  t.deepEqual(cache.webhooks().map((h) => `${h.configuration}/${h.name}`), ['a/a3', 'c/c1']);
});

test('a watch that ends, or sends ERROR (410 Gone), is followed by a fresh list', async (t) => {
  const { feed, state } = fakeFeed();
  state.items = [vwc('a', ['a1'])];
  const cache = new WebhookConfigurations({ feed, logger: memoryLogger().logger, retryMs: 5 });
  cache.start();
  t.teardown(() => cache.stop());
  await until(() => state.watches.length === 1);
  state.items = [vwc('z', ['z1'])];
  state.watches[0]?.end();
  await until(() => state.watches.length === 2);
  t.is(state.lists, 2);
  t.deepEqual(cache.webhooks().map((h) => h.name), ['z1'], 'the relist replaces, so deletions missed meanwhile are seen');
  state.watches[1]?.send({ type: 'ERROR', object: { kind: 'Status', code: 410 } });
  await until(() => state.watches.length === 3);
  t.true(state.watches[1]?.aborted);
});

test('a list that fails is retried, and requests wait for the first one only up to their bound', async (t) => {
  const { feed, state, nextList } = fakeFeed();
  state.listError = new Error('forbidden');
  const { logger, lines } = memoryLogger();
  const cache = new WebhookConfigurations({ feed, logger, retryMs: 5 });
  const first = nextList();
  cache.start();
  t.teardown(() => cache.stop());
  await first;
  t.false(await cache.waitReady(30));
  t.false(cache.synced);
  t.true(lines.some((l) => l['msg'] === 'cannot list or watch ValidatingWebhookConfigurations; retrying'));
  const waiting = cache.waitReady(5000);
  state.listError = undefined;
  state.items = [vwc('a', ['a1'])];
  t.true(await waiting);
  t.true(state.lists >= 2);
  t.deepEqual(cache.webhooks().map((h) => h.name), ['a1']);
});

test('stop ends the watch and releases whoever waits', async (t) => {
  const { feed, state } = fakeFeed();
  state.listError = new Error('down');
  const cache = new WebhookConfigurations({ feed, logger: memoryLogger().logger, retryMs: 10_000 });
  cache.start();
  const waiting = cache.waitReady(60_000);
  cache.stop();
  t.false(await waiting);
});

test('watches the API ends at once are retried after a growing pause, not in a tight loop', async (t) => {
  const { feed, state } = fakeFeed();
  const instant: ConfigurationFeed = {
    list: feed.list,
    async watch(rv, onEvent) {
      const w = await feed.watch(rv, onEvent);
      w.abort();
      return w;
    },
  };
  const cache = new WebhookConfigurations({ feed: instant, logger: memoryLogger().logger, retryMs: 20 });
  cache.start();
  t.teardown(() => cache.stop());
  await new Promise((r) => setTimeout(r, 300));
  // Pauses of 20, 40, 80, 160 ms: about five lists in 300 ms, where a tight loop makes thousands.
  t.true(state.lists >= 2 && state.lists <= 8, `${state.lists} lists`);
});
