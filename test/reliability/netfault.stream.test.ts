/** Every case of netfault.test.ts, on the stream data plane (net.Socket) instead of the raw-handle one. */
process.env.FULCRUM_TEST_DATA_PLANE = 'stream';
await import('./netfault.test.ts');
