/**
 * The sysctls that every result records (KernelObservation.sysctls) and the only ones --sysctl may
 * set inside an --isolate namespace: all are per network namespace on current kernels.
 * In the order a report lists them.
 */
export const STORM_SYSCTLS = [
  'net.core.somaxconn',
  'net.ipv4.tcp_max_syn_backlog',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.tcp_abort_on_overflow',
  'net.ipv4.tcp_syn_retries',
  'net.ipv4.tcp_syn_linear_timeouts',
  'net.ipv4.tcp_synack_retries',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_tw_reuse',
  'net.ipv4.tcp_max_tw_buckets',
] as const

export type StormSysctl = (typeof STORM_SYSCTLS)[number]
