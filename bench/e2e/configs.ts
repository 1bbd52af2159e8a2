/**
 * Config files for the native processes: the nginx HTTP backend and the two
 * reference balancers. All of them: one worker, loopback only, no logging,
 * room for the idle-connection test, and every path inside the run's temp dir
 * so that nothing touches /etc, /var or /run (safe as root and as a user).
 */

export interface NginxConf {
  dir: string;
  port: number;
  /** The open-file limit (`ulimit -n`) nginx inherits. */
  fdLimit: number;
  /** Client connections it must hold at once (the idle test's count). */
  clients: number;
}

/** Paths nginx would otherwise take from its compile-time defaults under /var/lib/nginx. */
function tempPaths(dir: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${dir}/${k}_temp;`).join('\n');
}

/**
 * worker_connections is sized to the need, not generously: nginx touches its
 * whole connection array at start, about 420 bytes a slot, and a 40k array
 * would add 17 MiB to the idle RSS we report for it.
 */
function nginxMain(c: NginxConf, connections: number, streamModule: string | undefined): string {
  return `${streamModule ? `load_module ${streamModule};\n` : ''}worker_processes 1;
worker_rlimit_nofile ${c.fdLimit};
pid ${c.dir}/nginx.pid;
error_log ${c.dir}/error.log crit;
events {
  worker_connections ${Math.max(1024, connections)};
  multi_accept on;
}
`;
}

/**
 * The backend: a tiny body for request rates, a 1 MiB file for throughput,
 * on a plain port and on one that reads a PROXY header first.
 * Long keepalive and header timeouts keep the idle test's connections open;
 * a huge keepalive_requests stops nginx from closing busy wrk connections.
 */
export function nginxBackendConf(c: NginxConf & { largeFile: string; proxyPort: number }): string {
  return `${nginxMain(c, c.clients + 1024, undefined)}http {
  access_log off;
${tempPaths(c.dir)}
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  client_header_timeout 600s;
  server {
    listen 127.0.0.1:${c.port} backlog=4096;
    # The same answers behind a PROXY protocol header (the fulcrum+proxy-v2 target sends one).
    listen 127.0.0.1:${c.proxyPort} proxy_protocol backlog=4096;
    location = /small { default_type text/plain; return 200 "ok\\n"; }
    location = /large { default_type application/octet-stream; alias ${c.largeFile}; }
  }
}
`;
}

/** nginx `stream` proxy: round robin over the one backend; each client also costs it an upstream connection. */
export function nginxStreamConf(c: NginxConf & { backendPort: number; streamModule: string | undefined }): string {
  return `${nginxMain(c, 2 * c.clients + 256, c.streamModule)}stream {
  upstream backends {
    server 127.0.0.1:${c.backendPort};
  }
  server {
    listen 127.0.0.1:${c.port} backlog=4096;
    proxy_pass backends;
    proxy_connect_timeout 5s;
    proxy_timeout 10m;
  }
}
`;
}

/** HAProxy in TCP mode, one thread, no logging (no `log` lines at all). */
export function haproxyConf(port: number, backendPort: number, maxconn: number): string {
  return `global
  nbthread 1
  maxconn ${maxconn}

defaults
  mode tcp
  timeout connect 5s
  timeout client 10m
  timeout server 10m
  maxconn ${maxconn}

frontend fe
  bind 127.0.0.1:${port}
  default_backend be

backend be
  balance roundrobin
  server s1 127.0.0.1:${backendPort}
`;
}
