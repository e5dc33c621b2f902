// The API requests whose answers the owner dictionary migration must keep (fixtures/store-owner-inline):
// each answer's file (the request spelled out) and the request.
export const OWNER_ANSWERS: Record<string, [path: string, query: Record<string, string>]> = {
  'transitions_limit_1000_order_asc.json.gz': ['/api/v1/transitions', { limit: '1000', order: 'asc' }],
  'transitions_limit_1000_order_desc.json.gz': ['/api/v1/transitions', { limit: '1000', order: 'desc' }],
  'transitions_comm_curl.json.gz': ['/api/v1/transitions', { limit: '200', comm: 'curl' }],
  'transitions_pid_4242.json.gz': ['/api/v1/transitions', { limit: '200', pid: '4242' }],
  'transitions_namespace_shop.json.gz': ['/api/v1/transitions', { limit: '200', namespace: 'shop' }],
  'transitions_pod_web-1.json.gz': ['/api/v1/transitions', { limit: '200', pod: 'web-1' }],
  'transitions_pod_uid.json.gz': ['/api/v1/transitions', { limit: '200', pod: '7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6' }],
  'transitions_container_prefix.json.gz': ['/api/v1/transitions', { limit: '200', container: 'cdcdcdcdcdcd' }],
  'transitions_container_unit.json.gz': ['/api/v1/transitions', { limit: '200', container: 'ssh.service', host: 'node-b' }],
  'transitions_port_443_comm_nginx.json.gz': ['/api/v1/transitions', { limit: '100', port: '443', comm: 'nginx' }],
  'connections_limit_1000.json.gz': ['/api/v1/connections', { limit: '1000' }],
  'connections_comm_sshd.json.gz': ['/api/v1/connections', { limit: '200', comm: 'sshd' }],
  'connections_namespace_shop_closed.json.gz': ['/api/v1/connections', { limit: '200', namespace: 'shop', state: 'closed' }],
  'connections_open_pid_1.json.gz': ['/api/v1/connections', { limit: '200', pid: '1', state: 'open' }],
  'connections_port_443_pod_uid.json.gz': ['/api/v1/connections', { limit: '200', port: '443', pod: '0c3a9f1e-2b4d-4c8e-9a7f-1d2e3f4a5b6c' }],
  'stats_comm_nginx.json.gz': ['/api/v1/stats/transitions', { from: '2026-11-25T00:00:00Z', to: '2026-11-27T00:00:00Z', bucket: '1h', comm: 'nginx' }],
  'agents.json.gz': ['/api/v1/agents', {}],
};
