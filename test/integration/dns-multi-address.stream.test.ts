/** Every case of dns-multi-address.test.ts, on the stream data plane (net.Socket) instead of the raw-handle one. */
process.env.FULCRUM_TEST_DATA_PLANE = 'stream';
await import('./dns-multi-address.test.ts');
