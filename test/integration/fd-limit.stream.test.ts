/** Every case of fd-limit.test.ts, on the stream data plane (net.Socket) instead of the raw-handle one. */
process.env.FULCRUM_TEST_DATA_PLANE = 'stream';
await import('./fd-limit.test.ts');
