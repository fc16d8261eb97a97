// nginx's configuration for the tests that run a real nginx (the real-server driver, the two-hosts
// test): everything in one temporary directory, one server block returning "ok", and the listen
// line under test.
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

/**
 * Writes DIRECTORY/nginx.conf (and the temp directories nginx wants) and returns its path.
 * `listen` is the listen directive's parameters, e.g. "127.0.0.1:8088 reuseport backlog=8".
 */
export function writeNginxConfig(directory, {listen, workers = 1}) {
  for (const temp of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(directory, temp), {recursive: true})
  const path = join(directory, 'nginx.conf')
  writeFileSync(
    path,
    `daemon off;
master_process on;
worker_processes ${workers};
# After a reload the old workers exit within 1 s even with the storm's connections still open, so
# the new workers are the only children left to stop for the next storm.
worker_shutdown_timeout 1s;
pid ${directory}/nginx.pid;
error_log ${directory}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${directory}/body;
  proxy_temp_path ${directory}/proxy;
  fastcgi_temp_path ${directory}/fastcgi;
  uwsgi_temp_path ${directory}/uwsgi;
  scgi_temp_path ${directory}/scgi;
  server {
    listen ${listen};
    return 200 "ok\\n";
  }
}
`,
  )
  return path
}
