/**
 * The `fulcrum+dashboard` target's open dashboard: an SSE client on the
 * admin port's `GET /events`, connected for the target's whole life and
 * reading everything, as a browser tab left open would. It counts the
 * snapshots it got, so a run can tell the stream really flowed.
 */
import { request, type ClientRequest } from 'node:http';
import { HOST } from './net-util.ts';

export interface DashboardClient {
  readonly snapshots: () => number;
  close(): void;
}

export function openDashboard(adminPort: number): Promise<DashboardClient> {
  return new Promise((resolve, reject) => {
    let snapshots = 0;
    let tail = '';
    const req: ClientRequest = request({ host: HOST, port: adminPort, path: '/events', agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`GET /events answered ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const text = tail + chunk;
        snapshots += text.split('event: snapshot\n').length - 1;
        tail = text.slice(-20);
      });
      res.on('error', () => {});
      resolve({ snapshots: () => snapshots, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}
