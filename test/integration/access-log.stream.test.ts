/** Every case of access-log.test.ts, on the stream data plane (net.Socket). */
process.env.FULCRUM_TEST_DATA_PLANE = 'stream';
await import('./access-log.test.ts');
