/**
 * `GET /cluster`: the fleet sharing this instance's store, from the
 * heartbeat entries that have not expired (src/store/). Without a store,
 * `store: null` and this instance alone. While the store is down the list
 * cannot be read: 503 (the store's error), like the changes it refuses.
 */
import { success } from './jsend.ts';
import type { Route } from './routes.ts';

export const CLUSTER_ROUTE: Route = {
  path: '/cluster',
  methods: {
    GET: async ({ api }) => {
      const { store } = api;
      const about = store.state === 'memory' ? null : { where: store.where, state: store.state, version: store.version };
      return { status: 200, json: success({ store: about, instances: await store.instances() }) };
    },
  },
};
