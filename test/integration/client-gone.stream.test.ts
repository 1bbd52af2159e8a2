/** Every case of client-gone.test.ts, on the stream data plane (net.Socket). */
process.env.FULCRUM_TEST_DATA_PLANE = 'stream';
await import('./client-gone.test.ts');
