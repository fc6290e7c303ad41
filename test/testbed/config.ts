// The config text each host gets: sshd_config, nginx.conf, the include, the app firewall.
import type { Host } from './types.ts';
import { INCLUDE_REMOTE } from './proc.ts';

export function sshdConfig(h: Host, authorizedKeys: string, allowTcpForwarding = true): string {
  return [
    `ListenAddress ${h.ip}:22`,
    `ListenAddress 127.0.0.1:22`,
    `HostKey ${h.dir}/ssh_host_ed25519_key`,
    `PidFile ${h.dir}/sshd.pid`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    `PermitRootLogin prohibit-password`,
    `PubkeyAuthentication yes`,
    `PasswordAuthentication no`,
    `KbdInteractiveAuthentication no`,
    `UsePAM no`,
    `StrictModes no`,
    `MaxSessions 50`,
    `MaxStartups 100`,
    `LoginGraceTime 20`,
    `PrintMotd no`,
    `UseDNS no`,
    `AllowTcpForwarding ${allowTcpForwarding ? 'yes' : 'no'}`,
    `X11Forwarding no`,
    `Subsystem sftp /usr/lib/openssh/sftp-server`,
    '',
  ].join('\n');
}

export function nginxConf(nginxHost: Host, form: 'set' | 'upstream'): string {
  const d = nginxHost.dir;
  return `# zdd testbed nginx (runs as root inside the ${nginxHost.ns} namespaces)
user root;
worker_processes 2;
worker_rlimit_nofile 16384;
pid ${d}/run/nginx.pid;
error_log /var/log/nginx/error.log info;

events {
    worker_connections 4096;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format zdd '$msec $status $upstream_addr $upstream_status $upstream_response_time $request_time';
    access_log /var/log/nginx/access.log zdd;
    client_body_temp_path ${d}/var/client_body;
    proxy_temp_path ${d}/var/proxy;
    fastcgi_temp_path ${d}/var/fastcgi;
    uwsgi_temp_path ${d}/var/uwsgi;
    scgi_temp_path ${d}/var/scgi;
${form === 'upstream' ? `\n    include ${INCLUDE_REMOTE};\n` : ''}
    server {
        listen ${nginxHost.ip}:80;
        listen 127.0.0.1:80;
        server_name _;
${form === 'set' ? `\n        include ${INCLUDE_REMOTE};\n` : ''}
        location / {
            proxy_pass ${form === 'set' ? '$service_url' : 'http://app'};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }
    }
}
`;
}

/** `upstream app { server IP:PORT; ... }` with one server line per entry, in order. */
export function upstreamIncludeText(entries: { ip: string; port: number }[]): string {
  return `upstream app {\n${entries.map((e) => `    server ${e.ip}:${e.port};\n`).join('')}}\n`;
}

export function initialIncludeText(form: 'set' | 'upstream', apps: Host[], port = 8080): string {
  if (form === 'set') return `set $service_url http://${apps[0].ip}:${port};\n`;
  return upstreamIncludeText(apps.map((a) => ({ ip: a.ip, port })));
}

export function appFirewall(app: Host, nginxIps: string[]): string {
  return `table inet zddtb {
    chain input {
        type filter hook input priority 0; policy accept;
        ct state established,related accept
        iif "lo" accept
        tcp dport 22 accept
        ip saddr { ${[...nginxIps, '127.0.0.0/8', app.ip].join(', ')} } tcp dport 1024-65535 accept
        tcp dport 1024-65535 drop
    }
}
`;
}
